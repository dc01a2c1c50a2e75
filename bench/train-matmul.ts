// `node scripts/with-webgpu.mjs node scripts/run-ts.mjs bench/train-matmul.ts [--shape emoji|small|all] [--reps N]`:
// the training matmul alone (src/train/kernels.ts trainMatmulOp), GFLOP/s for each product a training step makes
// (forward x·W + bias + residual, dX = dY·Wᵀ, dW = Xᵀ·dY) at emoji-16's shape (8 × 256 tokens) and an
// imagegpt-small layer's (1 × 256), so a change to the kernel is measured without the whole step around it.
import { createNodeDevice } from '../scripts/node-webgpu';
import { KernelContext } from '../src/gpu/context';
import { trainMatmulOp } from '../src/train/kernels';
import { kernelBenchArgs, median, patternBuffers, timeOnePass } from './common';

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

const SHAPES: Record<string, [string, number, number, number]> = {
  emoji: ['emoji-16 (8 × 256, E 128, I 512)', 2048, 128, 512],
  small: ['imagegpt-small layer (1 × 256, E 512, I 2048)', 256, 512, 2048],
};

export async function main(args: string[]): Promise<number> {
  const { shapes, reps } = kernelBenchArgs(args, SHAPES);
  const { device, info } = await createNodeDevice({ optionalFeatures: ['shader-f16', 'subgroups'] });
  const ctx = new KernelContext(device);
  console.log(`device: ${info.vendor} ${info.architecture} ${info.description ?? ''}; prefill tuning: ${ctx.tuning.prefill}`);
  const { buffer, destroyAll } = patternBuffers(device);
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
      const encode = (pass: GPUComputePassEncoder): void => op.encode(pass);
      await timeOnePass(device, encode); // compile and warm
      const times: number[] = [];
      for (let r = 0; r < reps; r++) times.push(await timeOnePass(device, encode));
      const ms = median(times);
      const gflops = (2 * p.m * p.n * p.k) / (ms / 1000) / 1e9;
      console.log(`${p.name.padEnd(52)} ${ms.toFixed(1).padStart(9)} ms  ${gflops.toFixed(2).padStart(6)} GFLOP/s`);
      op.destroy();
    }
  }
  destroyAll();
  ctx.destroy();
  device.destroy();
  return 0;
}
