// `node scripts/with-webgpu.mjs node scripts/run-ts.mjs bench/train-matmul.ts [--shape emoji|small|all] [--reps N]`:
// the training matmul alone (src/train/kernels.ts trainMatmulOp), GFLOP/s for each product a training step makes
// (forward x·W + bias + residual, dX = dY·Wᵀ, dW = Xᵀ·dY) at emoji-16's shape (8 × 256 tokens) and an
// imagegpt-small layer's (1 × 256), so a change to the kernel is measured without the whole step around it.
import { createNodeDevice } from '../scripts/node-webgpu';
import { KernelContext } from '../src/gpu/context';
import { trainMatmulOp, type TrainOp } from '../src/train/kernels';

interface Product {
  name: string;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  extras?: boolean;
}

/** The products of one block at N tokens, width E and MLP width I (the largest of each kind). */
function products(N: number, E: number, I: number): Product[] {
  return [
    { name: `fc forward ${N}×${E}·${E}×${I} + bias`, m: N, n: I, k: E, extras: false },
    { name: `mlp proj forward ${N}×${I}·${I}×${E} + bias + residual`, m: N, n: E, k: I, extras: true },
    { name: `fc dX ${N}×${I}·(${E}×${I})ᵀ`, m: N, n: E, k: I, transB: true },
    { name: `fc dW (${N}×${E})ᵀ·${N}×${I}`, m: E, n: I, k: N, transA: true },
  ];
}

export async function main(args: string[]): Promise<number> {
  const shapeArg = args.includes('--shape') ? args[args.indexOf('--shape') + 1] : 'all';
  const reps = args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 3;
  const { device, info } = await createNodeDevice({ optionalFeatures: ['shader-f16', 'subgroups'] });
  const ctx = new KernelContext(device);
  console.log(`device: ${info.vendor} ${info.architecture} ${info.description ?? ''}; prefill tuning: ${ctx.tuning.prefill}`);
  const shapes: [string, number, number, number][] = [
    ['emoji-16 (8 × 256, E 128, I 512)', 2048, 128, 512],
    ['imagegpt-small layer (1 × 256, E 512, I 2048)', 256, 512, 2048],
  ].filter(([name]) => shapeArg === 'all' || (name as string).startsWith(shapeArg)) as [string, number, number, number][];
  const made: GPUBuffer[] = [];
  const buffer = (floats: number): GPUBuffer => {
    const b = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    const data = Float32Array.from({ length: floats }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    device.queue.writeBuffer(b, 0, data);
    made.push(b);
    return b;
  };
  const runOnce = async (op: TrainOp): Promise<void> => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    op.encode(pass);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  for (const [shapeName, N, E, I] of shapes) {
    console.log(`\n== ${shapeName}`);
    for (const p of products(N, E, I)) {
      const op = trainMatmulOp(ctx, {
        a: buffer(p.m * p.k),
        b: buffer(p.k * p.n),
        c: buffer(p.m * p.n),
        m: p.m,
        n: p.n,
        k: p.k,
        transA: p.transA,
        transB: p.transB,
        ...(p.extras ? { bias: buffer(p.n), residual: buffer(p.m * p.n) } : {}),
      });
      await ctx.ready();
      await runOnce(op); // compile and warm
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        await runOnce(op);
        times.push(performance.now() - t0);
      }
      const ms = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
      const gflops = (2 * p.m * p.n * p.k) / (ms / 1000) / 1e9;
      console.log(`${p.name.padEnd(52)} ${ms.toFixed(1).padStart(9)} ms  ${gflops.toFixed(2).padStart(6)} GFLOP/s`);
      op.destroy();
    }
  }
  for (const b of made) b.destroy();
  ctx.destroy();
  device.destroy();
  return 0;
}
