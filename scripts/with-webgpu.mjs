#!/usr/bin/env node
// Runs a command with the environment Dawn needs (see webgpu-env.mjs).
import { spawnSync } from 'node:child_process';
import { webgpuEnv } from './webgpu-env.mjs';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: with-webgpu.mjs COMMAND [ARGS…]');
  process.exit(2);
}
const r = spawnSync(cmd, args, { stdio: 'inherit', env: webgpuEnv() });
process.exit(r.status ?? 1);
