#!/usr/bin/env node
// `npm test`: every test. Kernel, model and tool tests run in Node on Dawn (Vitest); the demo's end-to-end tests
// drive a real Chromium (Playwright). Both need WebGPU: on GPU-less machines that is SwiftShader from Debian's
// chromium. Then the GPU tests run a second time on Mesa's lavapipe, a second CPU Vulkan which, unlike SwiftShader,
// offers shader-f16, subgroups of 8 and timestamp-query: the paths written for real GPUs, and a different driver.
// With file arguments only those files run, once, on the adapter IMAGEGPT_ADAPTER names (default swiftshader);
// `--lavapipe` runs the lavapipe pass alone.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { webgpuEnv, missingWebgpu } from './webgpu-env.mjs';

/**
 * The lavapipe pass: the model against its PyTorch fixtures (f32, f16, emoji-16's greedy completion) with the
 * kernels' shader-f16 and subgroup paths, a model with and without them, and the device, adapter and sampler checks;
 * then the kernel files against their CPU references (the decode attention's 8-wide subgroup merge, masks, the
 * training kernels), and the pipelines compiled at load.
 * Left out: the files that build whole forwards under many tunings (fused-forward, fused-matmul, tuning-flags),
 * which LLVM compiles cold in many minutes each here (fused-forward: 796 s of wall time at load ~22); the kernels
 * they combine are tested alone above. attention-decode runs its small head sizes only there (see its shapesFor).
 */
const LAVAPIPE_FILES = [
  'test/gpu/cpu-adapter.test.ts',
  'test/gpu/device.test.ts',
  'test/gpu/features-devices.test.ts',
  'test/gpu/sample.test.ts',
  'test/model/model.test.ts',
  'test/model/emoji16.test.ts',
  'test/gpu/attention-decode.test.ts',
  'test/gpu/attention.test.ts',
  'test/gpu/attention-weights.test.ts',
  'test/gpu/cross-entropy.test.ts',
  'test/gpu/hf-inputs.test.ts',
  'test/gpu/layers.test.ts',
  'test/gpu/matmul.test.ts',
  'test/gpu/pipelines.test.ts',
  'test/gpu/pipelines-async.test.ts',
  'test/train/kernels.test.ts',
];

const fail = (message) => {
  console.error(message);
  process.exit(1);
};

let env;
try {
  env = webgpuEnv();
} catch (e) {
  fail(e.message);
}
const missing = missingWebgpu(env);
if (missing) fail(missing);
const extra = process.argv.slice(2);
const run = (cmd, args, runEnv = env) => spawnSync(cmd, args, { stdio: 'inherit', env: runEnv }).status ?? 1;
const seconds = (t0) => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

/** The lavapipe pass's status. In CI (CI=true) lavapipe missing is a failure; elsewhere it is skipped, saying why. */
function lavapipePass() {
  // The shared test device gets shader-f16 and subgroups here (test/helpers/gpu.ts): SwiftShader has no shader-f16.
  const lavapipeEnv = webgpuEnv({ ...process.env, IMAGEGPT_ADAPTER: 'lavapipe', IMAGEGPT_TEST_FEATURES: 'shader-f16,subgroups' });
  const ci = process.env.CI === 'true';
  const skip = (why) => {
    if (ci) fail(`lavapipe pass: ${why} (CI must run it: .ci/run installs Mesa from bookworm-backports)`);
    console.warn(`\nlavapipe pass skipped: ${why}\n`);
    return 0;
  };
  const noIcd = missingWebgpu(lavapipeEnv);
  if (noIcd) return skip(noIcd);
  // An old Mesa (Debian 12's 22.3) has the ICD but gives Dawn no adapter: name that, not a failing test file.
  const probe = spawnSync('node', ['scripts/probe-adapter.mjs'], { env: lavapipeEnv, encoding: 'utf8' });
  if (probe.status !== 0) return skip(`Dawn gets no adapter from ${lavapipeEnv.VK_ICD_FILENAMES}: Mesa ≥ 25 is needed (bookworm-backports)`);
  console.log(`\nlavapipe pass (${LAVAPIPE_FILES.join(' ')}) on ${probe.stdout.trim()}`);
  const t0 = performance.now();
  // lavapipe compiles each pipeline with LLVM, several times slower than SwiftShader: 120 s per test is too tight
  // on a loaded 2-core machine (these are hang bounds, not timings).
  const timeouts = ['--testTimeout=600000', '--hookTimeout=600000'];
  const status = run('npx', ['vitest', 'run', ...timeouts, ...LAVAPIPE_FILES], lavapipeEnv);
  console.log(`lavapipe pass: ${seconds(t0)}`);
  return status;
}

if (extra[0] === '--lavapipe') process.exit(lavapipePass());
let status = run('npx', ['vitest', 'run', ...extra]);
// A real GPU (IMAGEGPT_REAL_GPU=1) is the run itself, and a run already on lavapipe needs no second pass there.
if (status === 0 && extra.length === 0 && env.IMAGEGPT_REAL_GPU !== '1' && env.IMAGEGPT_ADAPTER !== 'lavapipe') status = lavapipePass();
if (status === 0 && extra.length === 0 && existsSync('test/e2e/run.mjs')) {
  status = run('node', ['test/e2e/run.mjs']);
}
process.exit(status);
