// `node scripts/with-webgpu.mjs node scripts/run-ts.mjs bench/train-attention.ts [--shape emoji|small|all] [--reps N]`:
// the training attention alone (src/train/kernels.ts attentionForwardOp, attentionBackwardOp), each entry point timed
// by itself, for both kernels in one process, alternating rep by rep: the adapter's own choice (on a CPU adapter
// train_attention_blocked.wgsl) and the portable train_attention.wgsl (a thread per row, forced through the tuning).
// Shapes: emoji-16's (8 × 256 tokens, 4 heads of 32) and an imagegpt-small layer's (1 × 256, 8 heads of 64).
// Median milliseconds of the wall clock around one submit of one dispatch (submit to onSubmittedWorkDone).
import { createNodeDevice } from '../scripts/node-webgpu';
import { KernelContext } from '../src/gpu/context';
import { attentionBackwardOp, attentionForwardOp, type TrainOp } from '../src/train/kernels';
import { kernelBenchArgs, median, patternBuffers, timeOnePass } from './common';

const ENTRIES = ['attentionForward', 'rowStats', 'queryGrad', 'keyValueGrad'] as const;

/** A pass that forwards everything to `pass` but issues only the dispatch numbered `keep` (0-based). */
function onlyDispatch(pass: GPUComputePassEncoder, keep: number): GPUComputePassEncoder {
  let seen = 0;
  return new Proxy(pass, {
    get: (target, prop) => {
      if (prop === 'dispatchWorkgroups') {
        return (x: number, y?: number, z?: number) => {
          if (seen++ === keep) target.dispatchWorkgroups(x, y, z);
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const SHAPES: Record<string, [string, number, number, number, number]> = {
  emoji: ['emoji-16 (8 × 256, 4 heads of 32)', 8, 256, 4, 32],
  small: ['imagegpt-small layer (1 × 256, 8 heads of 64)', 1, 256, 8, 64],
};

export async function main(args: string[]): Promise<number> {
  const { shapes, reps } = kernelBenchArgs(args, SHAPES);
  const { device, info } = await createNodeDevice({});
  const adapters = new KernelContext(device);
  const portable = new KernelContext(device, { prefill: 'shared' });
  const kernels: [string, KernelContext][] = [
    [adapters.tuning.prefill === 'registers' ? 'blocked' : 'portable (adapter)', adapters],
    ['portable', portable],
  ];
  console.log(`device: ${info.vendor} ${info.architecture} ${info.description ?? ''}; ${reps} reps, median ms`);
  const { buffer, destroyAll } = patternBuffers(device);
  const runOnce = (op: TrainOp, dispatch?: number): Promise<number> =>
    timeOnePass(device, (pass) => op.encode(dispatch === undefined ? pass : onlyDispatch(pass, dispatch)));
  for (const [shapeName, batch, seq, heads, headDim] of shapes) {
    console.log(`\n== ${shapeName}`);
    const rows = batch * seq;
    const E = heads * headDim;
    const sizes = { batch, seq, heads, headDim, scale: 1 / Math.sqrt(headDim) };
    const qkv = buffer(rows * 3 * E);
    const dOut = buffer(rows * E);
    // Each kernel its own outputs, so both backwards read their own forward's O and rowStats' L and D.
    const ops = kernels.map(([, ctx]) => {
      const outputs = buffer(rows * E);
      const stats = buffer(rows * heads * 2);
      const dqkv = buffer(rows * 3 * E);
      return {
        forward: attentionForwardOp(ctx, { qkv, outputs, ...sizes }),
        backward: attentionBackwardOp(ctx, { qkv, outputs, dOut, stats, dqkv, ...sizes }),
      };
    });
    for (const [, ctx] of kernels) await ctx.ready();
    for (const o of ops) {
      await runOnce(o.forward); // compile, warm, and the O and stats the backward's entry points read
      await runOnce(o.backward);
    }
    const times = ops.map(() => ENTRIES.map(() => [] as number[]));
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < ops.length; k++) {
        times[k][0].push(await runOnce(ops[k].forward));
        for (let e = 1; e < ENTRIES.length; e++) times[k][e].push(await runOnce(ops[k].backward, e - 1));
      }
    }
    console.log(`${'entry point'.padEnd(18)}${kernels.map(([name]) => name.padStart(12)).join('')}  ratio`);
    const totals = kernels.map(() => 0);
    ENTRIES.forEach((entry, e) => {
      const ms = times.map((t) => median(t[e]));
      ms.forEach((m, k) => (totals[k] += m));
      console.log(`${entry.padEnd(18)}${ms.map((m) => m.toFixed(1).padStart(12)).join('')}  ${(ms[1] / ms[0]).toFixed(2)}x`);
    });
    console.log(`${'all four'.padEnd(18)}${totals.map((m) => m.toFixed(1).padStart(12)).join('')}  ${(totals[1] / totals[0]).toFixed(2)}x`);
    for (const o of ops) {
      o.forward.destroy();
      o.backward.destroy();
    }
  }
  destroyAll();
  portable.destroy();
  adapters.destroy();
  device.destroy();
  return 0;
}
