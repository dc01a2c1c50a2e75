// Matmul throughput at imagegpt-small's shapes: our kernels (matvec for decode rows, tiled for
// prefill) against the naive one-thread-per-output kernel, measured in the same run.
// Run alone: node scripts/with-webgpu.mjs node scripts/run-ts.mjs bench/kernels.ts [--quick] [--prefill-rows N] [--cpu-time]
// --cpu-time (Node only) times by this process's CPU time instead of the wall clock: on a shared,
// overloaded machine it is far steadier; it counts Dawn's busy wait too, so it understates speedups.
import { Kernels } from '../src/gpu/kernels';
import { isCpuAdapter } from '../src/gpu/tuning';
import { requestImageGptDevice } from '../src/gpu/device';
import type { Op, StepShape, WeightDType } from '../src/gpu/types';
import { nodeGpu } from '../scripts/node-webgpu';

/** imagegpt-small (E = 512): attention in/out, MLP in/out, and the 512-wide head (no bias). */
const SHAPES = [
  { name: 'attn.c_attn', K: 512, N: 1536, bias: true, gelu: false },
  { name: 'attn.c_proj', K: 512, N: 512, bias: true, gelu: false },
  { name: 'mlp.c_fc', K: 512, N: 2048, bias: true, gelu: true },
  { name: 'mlp.c_proj', K: 2048, N: 512, bias: true, gelu: false },
  { name: 'lm_head', K: 512, N: 512, bias: false, gelu: false },
];

// Type aliases, not interfaces: callers store them as plain JSON records.
export type KernelBenchRow = {
  shape: string;
  K: number;
  N: number;
  rows: number;
  dtype: WeightDType;
  /** Median milliseconds per matmul. */
  oursMs: number;
  naiveMs: number;
  oursGflops: number;
  naiveGflops: number;
  speedup: number;
};

export type KernelBenchResult = {
  adapter: { vendor: string; architecture: string; description: string };
  tuning: Kernels['tuning'];
  prefillRows: number;
  timer: 'wall' | 'cpu';
  rows: KernelBenchRow[];
};

export async function benchKernels(
  device: GPUDevice,
  opts: { quick?: boolean; prefillRows?: number; cpuTime?: boolean; log?: (line: string) => void },
): Promise<KernelBenchResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const info = device.adapterInfo;
  const cpu = isCpuAdapter(info);
  // SwiftShader (a CPU) runs the naive kernel at ~0.3 GFLOP/s: 1024-row prefills would take minutes.
  const prefillRows = opts.prefillRows ?? (cpu ? (opts.quick ? 64 : 256) : 1024);
  const kernels = new Kernels(device);
  const clock = opts.cpuTime ? cpuClock() : () => performance.now();
  const step = kernels.createStepBuffer();
  const maxRows = Math.max(prefillRows, 8);
  const storage = (bytes: number) =>
    device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const fill = (buffer: GPUBuffer, count: number) => {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = Math.sin(i * 0.37) * 0.5;
    device.queue.writeBuffer(buffer, 0, data);
  };
  const x = storage(maxRows * 2048 * 4);
  fill(x, maxRows * 2048);
  const out = storage(maxRows * 2048 * 4);
  const result: KernelBenchResult = {
    adapter: { vendor: info.vendor, architecture: info.architecture, description: info.description },
    tuning: kernels.tuning,
    prefillRows,
    timer: opts.cpuTime ? 'cpu' : 'wall',
    rows: [],
  };
  log(`matmul GFLOP/s on ${info.vendor} ${info.architecture} ${info.description} (prefill rows ${prefillRows}, ${result.timer} time)`);
  log('shape          K→N        rows dtype   ours ms  GFLOP/s   naive ms  GFLOP/s  speedup');
  const shapes = opts.quick ? SHAPES.filter((s) => s.name !== 'lm_head') : SHAPES;
  for (const shape of shapes) {
    const bias = storage(shape.N * 4);
    fill(bias, shape.N);
    for (const dtype of ['f32', 'f16'] as WeightDType[]) {
      const bytes = shape.K * shape.N * (dtype === 'f16' ? 2 : 4);
      const w = { buffer: storage(bytes), dtype, rows: shape.K, cols: shape.N };
      fill(w.buffer, bytes / 4);
      const args = { step, x, w, out, bias: shape.bias ? bias : undefined, activation: shape.gelu ? ('quick_gelu' as const) : ('none' as const) };
      const ours = kernels.matmul(args);
      const naive = kernels.naiveMatmul(args);
      await kernels.ready();
      for (const rows of [prefillRows, 1, 8]) {
        const s: StepShape = { batch: rows, seq: 1, past: 0 };
        kernels.writeStep(step, s);
        const oursMs = await timeOp(device, ours, s, clock, opts.quick);
        const naiveMs = await timeOp(device, naive, s, clock, opts.quick);
        const flop = 2 * rows * shape.K * shape.N;
        const row: KernelBenchRow = {
          shape: shape.name,
          K: shape.K,
          N: shape.N,
          rows,
          dtype,
          oursMs,
          naiveMs,
          oursGflops: flop / oursMs / 1e6,
          naiveGflops: flop / naiveMs / 1e6,
          speedup: naiveMs / oursMs,
        };
        result.rows.push(row);
        log(
          `${shape.name.padEnd(14)} ${`${shape.K}→${shape.N}`.padEnd(10)} ${String(rows).padStart(4)} ${dtype}  ` +
            `${oursMs.toFixed(3).padStart(9)} ${row.oursGflops.toFixed(2).padStart(8)}  ${naiveMs.toFixed(3).padStart(9)} ` +
            `${row.naiveGflops.toFixed(2).padStart(8)} ${row.speedup.toFixed(1).padStart(7)}×`,
        );
      }
      w.buffer.destroy();
    }
    bias.destroy();
  }
  x.destroy();
  out.destroy();
  return result;
}

/** Median ms per dispatch: each sample is one submit of `repeat` dispatches, waited for with onSubmittedWorkDone. */
async function timeOp(device: GPUDevice, op: Op, step: StepShape, clock: () => number, quick = false): Promise<number> {
  const submit = async (repeat: number): Promise<number> => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let i = 0; i < repeat; i++) op.encode(pass, step);
    pass.end();
    const start = clock();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (clock() - start) / repeat;
  };
  const first = await submit(1); // warm-up (first use of the pipeline)
  // Enough dispatches per submit that each sample lasts ~20 ms (fixed costs of a submit vanish).
  const repeat = Math.max(1, Math.min(200, Math.round(20 / Math.max(first, 0.01))));
  const estimate = repeat === 1 ? first : await submit(repeat); // slow kernels: no extra run
  const samples = Math.max(3, Math.min(quick ? 3 : 7, Math.floor(1500 / (estimate * repeat))));
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await submit(repeat));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Milliseconds of CPU time used by this process (all its threads: SwiftShader's workers included). */
function cpuClock(): () => number {
  const usage = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process?.cpuUsage;
  if (!usage) throw new Error('bench: CPU time needs Node (process.cpuUsage)');
  return () => {
    const u = usage();
    return (u.user + u.system) / 1000;
  };
}

const keepAlive: unknown[] = [];

export async function main(args: string[]): Promise<number> {
  const gpu = nodeGpu();
  keepAlive.push(gpu); // Dawn aborts if its instance is collected while the device lives
  const { device } = await requestImageGptDevice(gpu, { maxBufferBytes: 64 << 20, maxBindingBytes: 64 << 20 });
  const at = args.indexOf('--prefill-rows');
  const prefillRows = at >= 0 ? Number(args[at + 1]) : undefined;
  if (prefillRows !== undefined && !(Number.isInteger(prefillRows) && prefillRows > 0)) {
    throw new Error(`--prefill-rows wants a positive integer, got ${args[at + 1]}`);
  }
  await benchKernels(device, { quick: args.includes('--quick'), prefillRows, cpuTime: args.includes('--cpu-time') });
  device.destroy();
  return 0;
}
