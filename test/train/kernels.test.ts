// The training kernels (forward and backward) against the float64 CPU reference (test/reference/train.ts, itself checked against torch),
// on ragged shapes: sizes that are not multiples of the 16×16 tiles or of the workgroups.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { KernelContext } from '../../src/gpu/context';
import {
  attentionBackwardOp,
  attentionForwardOp,
  embeddingForwardOp,
  normForwardOp,
  quickGeluForwardOp,
  trainMatmulOp,
  columnSumOp,
  crossEntropyBackwardOp,
  embeddingBackwardOp,
  normBackwardOp,
  quickGeluBackwardOp,
  tokenRows,
  type TrainOp,
} from '../../src/train/kernels';
import { attentionBackward, attentionForward, mm, normBackward, norm, quickGeluGrad, sumRows } from '../reference/train';
import { random, randomArray, readF32, relativeError, storageBuffer } from '../gpu/harness';

/** A value no kernel writes: the canary tail of withCanary. */
const CANARY = 7.25;

/** `n` zeros then `extra` canaries. */
function withCanary(n: number, extra: number): Float32Array {
  return new Float32Array(n + extra).fill(CANARY, n);
}

describe('training kernels', () => {
  let device: GPUDevice;
  let ctx: KernelContext;
  const made: GPUBuffer[] = [];
  const buffer = (data: Float32Array | Int32Array | Uint32Array | number): GPUBuffer => {
    const b = storageBuffer(device, data instanceof Uint32Array ? new Int32Array(data.buffer) : data);
    made.push(b);
    return b;
  };
  const runOps = (...ops: TrainOp[]) => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const o of ops) o.encode(pass);
    pass.end();
    device.queue.submit([encoder.finish()]);
  };
  beforeAll(async () => {
    device = await getTestDevice();
    ctx = new KernelContext(device);
  });
  afterAll(() => {
    for (const b of made) b.destroy();
    ctx.destroy();
  });

  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [17, 33, 5],
    [64, 48, 70],
    [130, 3, 47],
    [36, 68, 33], // more than one tile each way, K past a whole number of 16-deep slices and of 4-unrolled steps
  ];
  // Both kernels on this device: the adapter's own choice (register tiles on SwiftShader) and the other one, forced
  // through the tuning (workgroup-memory tiles, what a GPU gets: 8×8 threads, 32×32 tiles, K staged 16 deep). The
  // shared kernel runs slowly on SwiftShader (barriers: ~1.3 s a case at low load, 16 s under load here): two
  // shapes, one inside a tile and one over several tiles with a partial last K slice, cover its edges.
  const sharedShapes = ['17×33×5', '36×68×33'];
  for (const [m, n, k] of shapes) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      for (const prefill of ['registers', 'shared'] as const) {
        if (prefill === 'shared' && !sharedShapes.includes(`${m}×${n}×${k}`)) continue;
        it(`trainMatmul (${prefill}) ${m}×${n} over ${k}, A${transA ? 'ᵀ' : ''} B${transB ? 'ᵀ' : ''}, with and without bias and residual`, async () => {
          const kernels = prefill === ctx.tuning.prefill ? ctx : new KernelContext(device, { prefill, sharedThreads: [8, 8], sharedDepth: 16 });
          const rand = random(m * 1000 + n * 10 + k);
          const a = randomArray(rand, m * k);
          const b = randomArray(rand, k * n);
          const bias = randomArray(rand, n);
          const residual = randomArray(rand, m * n);
          const product = mm(a, b, m, k, n, transA, transB);
          for (const extras of [false, true]) {
            const c = buffer(m * n * 4);
            const op = trainMatmulOp(kernels, { a: buffer(a), b: buffer(b), c, m, n, k, transA, transB, ...(extras ? { bias: buffer(bias), residual: buffer(residual) } : {}) });
            await kernels.ready();
            runOps(op);
            const want = extras ? product.map((v, i) => v + bias[i % n] + residual[i]) : product;
            expect(relativeError(await readF32(device, c, m * n), want)).toBeLessThan(1e-6);
            op.destroy();
          }
          if (kernels !== ctx) kernels.destroy();
        });
      }
    }
  }

  it('columnSum over ragged rows and columns', async () => {
    const rand = random(3);
    for (const [rows, cols] of [[1, 1], [70, 65], [5, 200]]) {
      const x = randomArray(rand, rows * cols);
      const out = buffer(cols * 4);
      const op = columnSumOp(ctx, { x: buffer(x), out, rows, cols });
      await ctx.ready();
      runOps(op);
      expect(relativeError(await readF32(device, out, cols), sumRows(Float64Array.from(x), cols))).toBeLessThan(1e-6);
      op.destroy();
    }
  });

  it('normBackward, written and accumulated, dims under and over the workgroup', async () => {
    const rand = random(5);
    // Not dim 1: there dx is g·eps/(x² + eps)^1.5, all cancellation in f32 (a property of the formula, not the kernel).
    for (const [rows, dim] of [[1, 2], [7, 48], [3, 130]]) {
      const x = randomArray(rand, rows * dim, 2);
      const gain = randomArray(rand, dim, 1.5);
      const dy = randomArray(rand, rows * dim);
      const before = randomArray(rand, rows * dim);
      const { r } = norm(Float64Array.from(x), gain, dim, 1e-5);
      const want = normBackward(Float64Array.from(x), r, gain, Float64Array.from(dy), dim);
      for (const accumulate of [false, true]) {
        const dx = buffer(before);
        const op = normBackwardOp(ctx, { x: buffer(x), gain: buffer(gain), dy: buffer(dy), dx, rows, dim, eps: 1e-5, accumulate });
        await ctx.ready();
        runOps(op);
        const expected = accumulate ? want.map((v, i) => v + before[i]) : want;
        expect(relativeError(await readF32(device, dx, rows * dim), expected), `${rows}×${dim} accumulate ${accumulate}`).toBeLessThan(1e-5);
        op.destroy();
      }
    }
  });

  it('quickGeluBackward over a ragged count, large negative and positive inputs included', async () => {
    const rand = random(7);
    const count = 1000;
    const x = randomArray(rand, count, 6);
    x[0] = -100;
    x[1] = 100;
    const g = randomArray(rand, count);
    const grad = buffer(g);
    const op = quickGeluBackwardOp(ctx, { x: buffer(x), grad, count });
    await ctx.ready();
    runOps(op);
    expect(relativeError(await readF32(device, grad, count), Array.from(x, (v, i) => g[i] * quickGeluGrad(v)))).toBeLessThan(1e-6);
    op.destroy();
  });

  // Both kernels: a thread per row (the CPU adapters' tuning, norm 'thread') and a workgroup per row (GPUs').
  for (const perRow of ['thread', 'workgroup'] as const) {
    it(`crossEntropyBackward (a ${perRow} per row): loss per row and (softmax − one-hot) / counted, in place; ignored rows are zero`, async () => {
      const kernels = perRow === ctx.tuning.norm ? ctx : new KernelContext(device, { norm: perRow });
      const rand = random(9);
      // Rows under and over one 64-thread workgroup.
      for (const [vocab, rows] of [[512, 9], [37, 70]]) {
        const logits = randomArray(rand, rows * vocab, 8).map((v, i) => v + (i % 3 === 0 ? 200 : 0));
        const targets = Int32Array.from({ length: rows }, (_, r) => (r % 4 === 3 ? -100 : Math.floor(rand() * vocab)));
        const counted = targets.filter((t) => t >= 0).length;
        const logitsBuffer = buffer(logits);
        const loss = buffer(rows * 4);
        const op = crossEntropyBackwardOp(kernels, { logits: logitsBuffer, targets: buffer(targets), loss, rows, vocab });
        op.setCounted(counted);
        await kernels.ready();
        runOps(op);
        const wantLoss = new Float64Array(rows);
        const wantGrad = new Float64Array(rows * vocab);
        for (let r = 0; r < rows; r++) {
          if (targets[r] < 0) continue;
          const row = logits.subarray(r * vocab, (r + 1) * vocab);
          const max = Math.max(...row);
          const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
          wantLoss[r] = Math.log(sum) + max - row[targets[r]];
          for (let v = 0; v < vocab; v++) wantGrad[r * vocab + v] = (Math.exp(row[v] - max) / sum - (v === targets[r] ? 1 : 0)) / counted;
        }
        expect(relativeError(await readF32(device, loss, rows), wantLoss)).toBeLessThan(1e-5);
        expect(relativeError(await readF32(device, logitsBuffer, rows * vocab), wantGrad)).toBeLessThan(1e-5);
        op.destroy();
      }
      if (kernels !== ctx) kernels.destroy();
    });
  }

  it('embeddingBackward: wte rows from a counting sort of the ids, wpe per position; unused rows zero', async () => {
    const rand = random(13);
    const [batch, seq, dim, vocab] = [3, 11, 70, 20];
    const ids = Array.from({ length: batch }, () => Array.from({ length: seq }, () => Math.floor(rand() * (vocab - 5)))); // the last 5 unused
    const grad = randomArray(rand, batch * seq * dim);
    const { starts, rowsOf } = tokenRows(ids, vocab);
    const dwte = buffer(vocab * dim * 4);
    const dwpe = buffer((seq + 4) * dim * 4); // more positions than the step uses
    const op = embeddingBackwardOp(ctx, { grad: buffer(grad), starts: buffer(starts), rowsOf: buffer(rowsOf), dwte, dwpe, batch, seq, dim, vocab });
    await ctx.ready();
    runOps(op);
    const wantWte = new Float64Array(vocab * dim);
    const wantWpe = new Float64Array((seq + 4) * dim);
    ids.forEach((row, b) =>
      row.forEach((id, t) => {
        for (let e = 0; e < dim; e++) {
          wantWte[id * dim + e] += grad[(b * seq + t) * dim + e];
          wantWpe[t * dim + e] += grad[(b * seq + t) * dim + e];
        }
      }),
    );
    expect(relativeError(await readF32(device, dwte, vocab * dim), wantWte)).toBeLessThan(1e-6);
    expect(relativeError(await readF32(device, dwpe, (seq + 4) * dim), wantWpe)).toBeLessThan(1e-6);
    expect(() => tokenRows([[0, vocab]], vocab)).toThrow(/token id 20 is outside 0\.\.19/);
    op.destroy();
  });

  // Both attention kernels: the CPU adapter's (train_attention_blocked.wgsl, 4 rows a thread against 4 others at a
  // time: sequences and head sizes that are not multiples of 4, and one past the 256 rows of a workgroup) and the
  // portable one a GPU gets, forced through the tuning, on the same shapes.
  const attentionKernels = ['registers', 'shared'] as const;
  const kernelsFor = (prefill: 'registers' | 'shared') => (prefill === ctx.tuning.prefill ? ctx : new KernelContext(device, { prefill }));
  for (const [batch, seq, heads, headDim] of [[1, 1, 1, 1], [2, 70, 3, 5], [1, 9, 2, 128], [1, 261, 1, 6], [3, 6, 2, 3]]) {
    for (const prefill of attentionKernels) {
      it(`attentionBackward (${prefill}), batch ${batch} × ${seq} positions, ${heads} heads of ${headDim}`, async () => {
        const kernels = kernelsFor(prefill);
        const rand = random(batch * 100 + seq + headDim);
        const E = heads * headDim;
        const rows = batch * seq;
        const qkv = randomArray(rand, rows * 3 * E, 1.5);
        const dOut = randomArray(rand, rows * E);
        const sizes = { batch, seq, heads, headDim, scale: 1 / Math.sqrt(headDim) / 2 };
        const { p, merged } = attentionForward(Float64Array.from(qkv), sizes);
        const want = attentionBackward(Float64Array.from(qkv), p, Float64Array.from(dOut), sizes);
        // Written buffers end in a canary row: a kernel storing rows past a sequence's end (the blocked kernel's
        // clamped rows) would reach it from the last sequence.
        const dqkv = buffer(withCanary(rows * 3 * E, 3 * E));
        const stats = buffer(withCanary(rows * heads * 2, 4 * heads * 2));
        const op = attentionBackwardOp(kernels, { qkv: buffer(qkv), outputs: buffer(Float32Array.from(merged)), dOut: buffer(dOut), stats, dqkv, ...sizes });
        await kernels.ready();
        runOps(op);
        const got = await readF32(device, dqkv, (rows + 1) * 3 * E);
        expect(relativeError(got.subarray(0, rows * 3 * E), want)).toBeLessThan(1e-5);
        expect(got.subarray(rows * 3 * E).every((v) => v === CANARY)).toBe(true);
        expect((await readF32(device, stats, (rows + 4) * heads * 2)).subarray(rows * heads * 2).every((v) => v === CANARY)).toBe(true);
        op.destroy();
        if (kernels !== ctx) kernels.destroy();
      });
    }
  }

  for (const [batch, seq, heads, headDim] of [[2, 37, 3, 7], [1, 9, 2, 128], [1, 261, 1, 6], [3, 6, 2, 3]]) {
    for (const prefill of attentionKernels) {
      it(`attentionForward (${prefill}), batch ${batch} × ${seq} positions, ${heads} heads of ${headDim}`, async () => {
        const kernels = kernelsFor(prefill);
        const rand = random(batch * 10 + seq + headDim);
        const sizes = { batch, seq, heads, headDim, scale: 0.3 };
        const E = heads * headDim;
        const rows = batch * seq;
        const qkv = randomArray(rand, rows * 3 * E, 2);
        const outputs = buffer(withCanary(rows * E, 4 * E));
        const op = attentionForwardOp(kernels, { qkv: buffer(qkv), outputs, ...sizes });
        await kernels.ready();
        runOps(op);
        const got = await readF32(device, outputs, (rows + 4) * E);
        expect(relativeError(got.subarray(0, rows * E), attentionForward(Float64Array.from(qkv), sizes).merged)).toBeLessThan(1e-6);
        expect(got.subarray(rows * E).every((v) => v === CANARY)).toBe(true);
        op.destroy();
        if (kernels !== ctx) kernels.destroy();
      });
    }
  }

  it('attentionBackward refuses a head size over what it keeps in registers', () => {
    const b = buffer(4096);
    expect(() => attentionBackwardOp(ctx, { qkv: b, outputs: buffer(16), dOut: buffer(16), stats: buffer(16), dqkv: buffer(16), batch: 1, seq: 1, heads: 1, headDim: 129, scale: 1 })).toThrow(/head size 129 is over the 128/);
  });

  it('forwards: norm, quick-GELU, embeddings and causal attention against the reference', async () => {
    const rand = random(21);
    const [rows, dim] = [9, 70];
    const x = randomArray(rand, rows * dim, 2);
    const gain = randomArray(rand, dim, 1.5);
    const y = buffer(rows * dim * 4);
    const normOp = normForwardOp(ctx, { x: buffer(x), gain: buffer(gain), y, rows, dim, eps: 1e-5 });
    const g = buffer(rows * dim * 4);
    const geluOp = quickGeluForwardOp(ctx, { x: buffer(x), y: g, count: rows * dim });
    const [batch, seq, vocab] = [3, 3, 11];
    const ids = Int32Array.from({ length: batch * seq }, () => Math.floor(rand() * vocab));
    const wte = randomArray(rand, vocab * dim);
    const wpe = randomArray(rand, (seq + 2) * dim);
    const hidden = buffer(rows * dim * 4);
    const embedOp = embeddingForwardOp(ctx, { ids: buffer(ids), wte: buffer(wte), wpe: buffer(wpe), hidden, batch, seq, dim, vocab });
    const sizes = { batch: 2, seq: 37, heads: 3, headDim: 7, scale: 0.3 };
    const qkv = randomArray(rand, sizes.batch * sizes.seq * 3 * 21, 2);
    const outputs = buffer(sizes.batch * sizes.seq * 21 * 4);
    const attnOp = attentionForwardOp(ctx, { qkv: buffer(qkv), outputs, ...sizes });
    await ctx.ready();
    runOps(normOp, geluOp, embedOp, attnOp);
    expect(relativeError(await readF32(device, y, rows * dim), norm(Float64Array.from(x), gain, dim, 1e-5).y)).toBeLessThan(1e-6);
    expect(relativeError(await readF32(device, g, rows * dim), Array.from(x, (v) => v / (1 + Math.exp(-1.702 * v))))).toBeLessThan(1e-6);
    const wantHidden = Array.from({ length: rows * dim }, (_, i) => Math.fround(wte[ids[Math.floor(i / dim)] * dim + (i % dim)] + wpe[(Math.floor(i / dim) % seq) * dim + (i % dim)]));
    expect(relativeError(await readF32(device, hidden, rows * dim), wantHidden)).toBe(0);
    expect(relativeError(await readF32(device, outputs, sizes.batch * sizes.seq * 21), attentionForward(Float64Array.from(qkv), sizes).merged)).toBeLessThan(1e-6);
    for (const o of [normOp, geluOp, embedOp, attnOp]) o.destroy();
  });
});
