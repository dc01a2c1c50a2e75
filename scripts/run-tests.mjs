#!/usr/bin/env node
// `npm test`: every test. Kernel, model and tool tests run in Node on Dawn (Vitest);
// the demo's end-to-end tests drive a real Chromium (Playwright). Both need WebGPU:
// on GPU-less machines that is SwiftShader from Debian's chromium.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { webgpuEnv, HOW_TO_GET_WEBGPU } from './webgpu-env.mjs';

const env = webgpuEnv();
if (!env.VK_ICD_FILENAMES && env.IMAGEGPT_REAL_GPU !== '1') {
  console.error(HOW_TO_GET_WEBGPU);
  process.exit(1);
}
const extra = process.argv.slice(2);
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', env }).status ?? 1;

let status = run('npx', ['vitest', 'run', ...extra]);
if (status === 0 && extra.length === 0 && existsSync('test/e2e/run.mjs')) {
  status = run('node', ['test/e2e/run.mjs']);
}
process.exit(status);
