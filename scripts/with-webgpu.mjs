#!/usr/bin/env node
// Runs a command with the environment Dawn needs (see webgpu-env.mjs): IMAGEGPT_ADAPTER=swiftshader (default)
// or lavapipe picks the CPU Vulkan driver, IMAGEGPT_REAL_GPU=1 the machine's GPU.
import { spawnSync } from 'node:child_process';
import { webgpuEnv, missingWebgpu } from './webgpu-env.mjs';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: with-webgpu.mjs COMMAND [ARGS…]');
  process.exit(2);
}
let env;
try {
  env = webgpuEnv();
} catch (e) {
  console.error(e.message);
  process.exit(2);
}
// A driver named and not found stops here; without a name, Dawn may still find a GPU of its own.
const missing = process.env.IMAGEGPT_ADAPTER ? missingWebgpu(env) : null;
if (missing) {
  console.error(missing);
  process.exit(1);
}
const r = spawnSync(cmd, args, { stdio: 'inherit', env });
process.exit(r.status ?? 1);
