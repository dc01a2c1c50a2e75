// HF attention_mask and position_ids: the masked attention kernels (per query, per thread, split over keys) against
// the CPU reference; forward / sessions on a left-padded batch against PyTorch (weights-tools/make_mask_fixtures.py:
// HF's finfo.min arithmetic in f32, so a fully masked row is checked too); each row equal to the row alone; bad input.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageGPT } from '../../src/model/imagegpt';
import { Runner } from '../../src/model/runner';
import { ImageGPTImageProcessor } from '../../src/processor/processor';
import { Kernels, type KernelTuning } from '../../src/gpu/kernels';
import type { StepShape } from '../../src/gpu/types';
import { parseSafetensors, tensorToFloat32 } from '../../src/safetensors';
import { createNodeDevice, getTestDevice } from '../helpers/gpu';
import { FIXTURES, loadModelFixture, relError } from '../helpers/fixtures';
import * as ref from '../reference/ops';
import { random, randomArray, storageBuffer, readF32, runStep, relativeError } from '../gpu/harness';

const tiny = loadModelFixture('tiny');
const V1 = 512;

function intRows(t: { data: Uint8Array; shape: number[] }): number[][] {
  const flat = Array.from(new Int32Array(t.data.slice().buffer));
  const [B, T] = t.shape;
  return Array.from({ length: B }, (_, b) => flat.slice(b * T, (b + 1) * T));
}

const file = parseSafetensors(new Uint8Array(readFileSync(join(FIXTURES, 'tiny', 'masked.safetensors'))));
const tensor = (name: string) => file.tensors.get(name)!;
const fx = {
  ids: intRows(tensor('input_ids')),
  mask: intRows(tensor('attention_mask')),
  positions: intRows(tensor('position_ids')),
  logits: tensorToFloat32(tensor('logits')),
  defaultPositions: tensorToFloat32(tensor('logits_default_positions')),
  alone: tensorToFloat32(tensor('alone_logits')),
  attentions: [0, 1].map((l) => tensorToFloat32(tensor(`attentions.${l}`))),
};
const [B, T] = [fx.ids.length, fx.ids[0].length];
const PAD = fx.mask[1].indexOf(1);

/** Logits of row b, positions from … to-1: [to - from, V1]. */
function rowLogits(logits: Float32Array, b: number, from: number, to: number, width = T): Float32Array {
  return logits.subarray((b * width + from) * V1, (b * width + to) * V1);
}

describe('masked attention kernels against the reference', () => {
  let plainDevice: GPUDevice;
  let subgroupDevice: GPUDevice;
  beforeAll(async () => {
    plainDevice = await getTestDevice();
    subgroupDevice = (await createNodeDevice({ optionalFeatures: ['subgroups'] })).device;
  });

  // fuse false: today's kernels, fully masked queries written by a pass of their own; fuse true: by the per-query
  // kernels and the one-dispatch decode kernel themselves (its merge through workgroup memory or subgroups).
  const SPLIT = { attentionSplitKeys: 8, attentionMaxSplits: 16, attentionSplitMaxSeq: 4 };
  const TUNINGS: [string, Partial<KernelTuning>, boolean][] = [
    ['thread', { attention: 'thread', attentionThreads: 64, attentionMaxSplits: 1, fuse: false }, false],
    ['workgroup', { attention: 'workgroup', attentionThreads: 64, attentionMaxSplits: 1, fuse: false }, false],
    ['thread + split', { attention: 'thread', attentionThreads: 32, ...SPLIT, fuse: false }, false],
    ['fused thread', { attention: 'thread', attentionThreads: 64, attentionMaxSplits: 1, fuse: true }, false],
    ['fused workgroup', { attention: 'workgroup', attentionThreads: 64, attentionMaxSplits: 1, fuse: true }, false],
    ['fused thread + one-dispatch decode (workgroup memory)', { attention: 'thread', attentionThreads: 32, ...SPLIT, fuse: true, attentionDecodeThreads: 8 }, false],
    ['fused workgroup + one-dispatch decode (subgroups)', { attention: 'workgroup', attentionThreads: 64, ...SPLIT, fuse: true, attentionDecodeThreads: 4 }, true],
  ];
  for (const [name, tuning, withSubgroups] of TUNINGS) {
    it(`${name}: padding, fully masked queries, masked keys in later steps`, async () => {
      const [E, H, P, batch] = [48, 3, 60, 3];
      const device = withSubgroups ? subgroupDevice : plainDevice;
      const kernels = new Kernels(device, tuning);
      const step = kernels.createStepBuffer(P);
      const seqs = [13, 1, 2, 3, 1, 9, 1];
      const maxRows = batch * 13;
      const cacheFloats = batch * P * E;
      const kCache = storageBuffer(device, cacheFloats * 4);
      const vCache = storageBuffer(device, cacheFloats * 4);
      const qkv = storageBuffer(device, maxRows * 3 * E * 4);
      const out = storageBuffer(device, maxRows * E * 4);
      // Row 0: left padding of 5; row 1: every key of the first step masked, then a masked key now and then;
      // row 2: no padding, one masked key.
      const mask = new Uint32Array(batch * P).fill(1);
      for (let j = 0; j < 5; j++) mask[j] = 0;
      for (let j = 0; j < 13; j++) mask[P + j] = 0;
      for (const j of [14, 17, 20]) mask[P + j] = 0;
      mask[2 * P + 7] = 0;
      const keyMask = storageBuffer(device, new Int32Array(mask.buffer));
      const o = { nHead: H, dim: E, maxPositions: P };
      const scale = 1 / Math.sqrt(E / H);
      const append = kernels.kvAppend({ step, qkv, kCache, vCache, ...o });
      const attend = kernels.attention({ step, qkv, kCache, vCache, out, ...o, scale, keyMask });
      await kernels.ready();
      const rand = random(7);
      const kRef = new Float32Array(cacheFloats);
      const vRef = new Float32Array(cacheFloats);
      let past = 0;
      for (const seq of seqs) {
        const s: StepShape = { batch, seq, past };
        const x = randomArray(rand, batch * seq * 3 * E, 2);
        device.queue.writeBuffer(qkv, 0, x);
        await runStep(device, kernels, step, s, [append, attend]);
        ref.kvAppend(x, kRef, vRef, o, s);
        const want = ref.maskedAttention(x, kRef, vRef, { ...o, scale }, s, mask);
        const got = await readF32(device, out, batch * seq * E);
        expect(relativeError(got, want), JSON.stringify(s)).toBeLessThan(2e-5);
        past += seq;
      }
      kernels.destroy();
    });
  }
});

describe.each(['f32', 'f16'] as const)('attention mask and position ids, %s weights', (dtype) => {
  const tol = dtype === 'f32' ? 1e-4 : 2e-2;
  let model: ImageGPT;
  beforeAll(async () => {
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype });
  });
  afterAll(() => model?.dispose());

  it('a left-padded batch with HF generate positions equals PyTorch everywhere, padding and the fully masked row included', async () => {
    const { logits } = await model.forward(fx.ids, { attentionMask: fx.mask, positionIds: fx.positions });
    expect(logits.every(Number.isFinite)).toBe(true);
    expect(relError(logits, fx.logits)).toBeLessThan(tol);
    // The fully masked row on its own: uniform attention, finite, as HF.
    expect(relError(rowLogits(logits, 2, 0, T), rowLogits(fx.logits, 2, 0, T))).toBeLessThan(tol);
  });

  it('the padded row at its real positions equals the row alone (PyTorch and ours)', async () => {
    const { logits } = await model.forward(fx.ids, { attentionMask: fx.mask, positionIds: fx.positions });
    expect(relError(rowLogits(logits, 1, PAD, T), fx.alone)).toBeLessThan(tol);
    const alone = await model.forward([fx.ids[1].slice(PAD)]);
    expect(relError(rowLogits(logits, 1, PAD, T), alone.logits)).toBeLessThan(dtype === 'f32' ? 1e-5 : 1e-3);
  });

  it('a mask with the default positions (0..T-1) equals PyTorch; all-ones mask and default positions change nothing', async () => {
    const { logits } = await model.forward(fx.ids, { attentionMask: fx.mask });
    expect(relError(logits, fx.defaultPositions)).toBeLessThan(tol);
    const ids = tiny.inputIds.map((r) => r.slice(0, 20));
    const plain = await model.forward(ids);
    const ones = ids.map((r) => r.map(() => 1));
    const positions = ids.map((r) => r.map((_, t) => t));
    const explicit = await model.forward(ids, { attentionMask: ones, positionIds: positions });
    expect(relError(explicit.logits, plain.logits)).toBe(0);
  });

  it('outputAttentions follows the mask (HF weights, the fully masked rows uniform)', async () => {
    const { attentions } = await model.forward(fx.ids, { attentionMask: fx.mask, positionIds: fx.positions, outputAttentions: true });
    for (let l = 0; l < 2; l++) expect(relError(attentions![l], fx.attentions[l]), `layer ${l}`).toBeLessThan(dtype === 'f32' ? 1e-5 : 2e-2);
  });

  it('sessions: prefill with the mask then steps with positions give the fixture logits; the cache keeps the mask', async () => {
    const session = model.createSession(B);
    try {
      const split = 18;
      const first = await session.prefill(fx.ids.map((r) => r.slice(0, split)), {
        attentionMask: fx.mask.map((r) => r.slice(0, split)),
        positionIds: fx.positions.map((r) => r.slice(0, split)),
      });
      for (let b = 0; b < B; b++) expect(relError(first.subarray(b * V1, (b + 1) * V1), rowLogits(fx.logits, b, split - 1, split))).toBeLessThan(tol);
      for (let t = split; t < T; t++) {
        // Later tokens are all attended (mask 1): the padding stays masked through the cache.
        const next = await session.step(fx.ids.map((r) => r[t]), { positionIds: fx.positions.map((r) => r[t]) });
        for (let b = 0; b < 2; b++) expect(relError(next.subarray(b * V1, (b + 1) * V1), rowLogits(fx.logits, b, t, t + 1)), `b ${b} t ${t}`).toBeLessThan(tol);
      }
    } finally {
      session.dispose();
    }
  });

  it('refuses masks and position ids of the wrong shape or values, naming them', async () => {
    const ids = fx.ids;
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ attentionMask: fx.mask.slice(1) }, /forward: attentionMask must be 3 rows \(the shape of the ids \[3, 24\]\), got 2 rows/],
      [{ attentionMask: fx.mask.map((r, b) => (b === 1 ? r.slice(1) : r)) }, /attentionMask\[1\] must be 24 values/],
      [{ attentionMask: fx.mask.map((r, b) => (b === 0 ? [2, ...r.slice(1)] : r)) }, /attentionMask\[0\]\[0\] = 2; expected 0 \(padding\) or 1/],
      [{ attentionMask: fx.mask.map((r, b) => (b === 0 ? [true, ...r.slice(1)] : r)) }, /attentionMask\[0\]\[0\] = true/],
      [{ attentionMask: 'ones' }, /attentionMask must be 3 rows .* got "ones"/],
      [{ positionIds: fx.positions.map((r, b) => (b === 2 ? [...r.slice(0, 23), 64] : r)) }, /positionIds\[2\]\[23\] = 64; expected an integer position in 0\.\.63/],
      [{ positionIds: fx.positions.map((r, b) => (b === 2 ? [-1, ...r.slice(1)] : r)) }, /positionIds\[2\]\[0\] = -1/],
      [{ positionIds: fx.positions.map((r) => r.slice(0, 5)) }, /positionIds\[0\] must be 24 values/],
      [{ attentionMasks: fx.mask }, /unknown option "attentionMasks"/],
    ];
    for (const [options, message] of bad) await expect(model.forward(ids, options as object)).rejects.toThrow(message);
    const session = model.createSession(B);
    try {
      await expect(session.prefill(ids, { attentionMask: [[1]] })).rejects.toThrow(/prefill: attentionMask must be 3 rows/);
      await expect(session.step([1, 2, 3], { attentionMask: [1, 1] })).rejects.toThrow(/step: attentionMask must hold 3 values/);
      await expect(session.step([1, 2, 3], { positionIds: [1, 2, 99] })).rejects.toThrow(/step: positionIds\[2\]\[0\] = 99/);
      await expect(session.step([1, 2, 3], { mask: [1, 1, 1] } as object)).rejects.toThrow(/step: unknown option "mask"/);
    } finally {
      session.dispose();
    }
  });
});

describe('generate with prompts of different lengths (tiny, f32)', () => {
  let model: ImageGPT;
  beforeAll(async () => {
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f32' });
  });
  afterAll(() => model?.dispose());

  const long = tiny.inputIds[0].slice(1, 25).map((t) => t % 512);
  const short = tiny.inputIds[1].slice(1, 17).map((t) => t % 512);

  for (const sos of [true, false]) {
    it(`greedy on prompts of 24 and 16 tokens equals each alone${sos ? '' : ' (sos: false)'}; no padding: each row is its prompt then new tokens`, async () => {
      const maxNewTokens = 40;
      const out = await model.generate({ prompt: [long, short], temperature: 0, maxNewTokens, sos });
      // maxNewTokens counts after the longest row; the shorter row gets 8 more: both rows are 24 + 40 tokens.
      const total = 24 + maxNewTokens;
      expect(out.length).toBe(2 * total);
      const row = (b: number) => Array.from(out.subarray(b * total, (b + 1) * total));
      expect(row(0).slice(0, 24)).toEqual(long);
      expect(row(1).slice(0, 16)).toEqual(short);
      const alone = await Promise.all([[long, 24], [short, 16]].map(([p, n]) => model.generate({ prompt: [p as number[]], temperature: 0, maxNewTokens: total - (n as number), sos })));
      expect(row(0).slice(24)).toEqual(Array.from(alone[0].subarray(24)));
      expect(row(1).slice(16)).toEqual(Array.from(alone[1].subarray(16)));
    });
  }

  it('an empty prompt row beside a longer one (SOS only), and onTokens sees every step, prompt tokens included', async () => {
    const steps: number[] = [];
    const seen: number[][] = [];
    const out = await model.generate({
      prompt: [short, []],
      temperature: 0,
      maxNewTokens: 6,
      onTokens: ({ step, tokens }) => {
        steps.push(step);
        seen.push(Array.from(tokens));
      },
    });
    const alone = await model.generate({ prompt: [[]], temperature: 0, maxNewTokens: 22 });
    expect(out.length).toBe(2 * 22);
    expect(Array.from(out.subarray(0, 16))).toEqual(short);
    expect(Array.from(out.subarray(22, 44))).toEqual(Array.from(alone));
    // One step per column after the shortest row (empty): the first row gives its prompt tokens, then new ones.
    expect(steps).toEqual(Array.from({ length: 22 }, (_, g) => g));
    expect(seen.map((t) => t[0])).toEqual(Array.from(out.subarray(0, 22)));
    expect(seen.map((t) => t[1])).toEqual(Array.from(alone));
  });

  it('onRow with rows of different lengths: every image row once, all samples together; bad prompt rows refused, naming them', async () => {
    const rows: number[] = [];
    const out = await model.generate({ prompt: [long, short], temperature: 0, onRow: ({ row, tokens }) => {
      rows.push(row);
      expect(tokens.length).toBe(2 * 8);
    } });
    // The shortest row (16 tokens = 2 image rows) decides the first row completed by the run.
    expect(rows).toEqual([2, 3, 4, 5, 6, 7]);
    expect(out.length).toBe(2 * 64);
    await expect(model.generate({ prompt: [long, [1, 600]] })).rejects.toThrow(/prompt\[1\]\[1\] = 600/);
    await expect(model.generate({ prompt: [long, []], sos: false })).rejects.toThrow(/row 1 is empty/);
    await expect(model.generate({ prompt: [new Array(30).fill(1), [1]], maxNewTokens: 35 })).rejects.toThrow(/exceeds n_positions/);
  });

  it('complete with keepRows per sample equals completing each count alone', async () => {
    const processor = new ImageGPTImageProcessor({ clusters: Array.from({ length: 512 }, (_, i) => [i / 512, 0, 0]), size: { height: 8, width: 8 } });
    const image = tiny.inputIds[0].slice(1).concat([7]).map((t) => t % 512);
    const mixed = await model.complete(image, { keepRows: [3, 5, 3], processor, temperature: 0 });
    expect(mixed.length).toBe(3);
    for (const [i, k] of [3, 5, 3].entries()) {
      const [alone] = await model.complete(image, { keepRows: k, processor, temperature: 0 });
      expect(Array.from(mixed[i].tokens)).toEqual(Array.from(alone.tokens));
      expect(Array.from(mixed[i].tokens.subarray(0, k * 8))).toEqual(image.slice(0, k * 8));
    }
    await expect(model.complete(image, { keepRows: [3, 5], samples: 3, processor })).rejects.toThrow(/keepRows holds 2 counts but samples is 3/);
    await expect(model.complete(image, { keepRows: [3, 9], processor })).rejects.toThrow(/keepRows\[1\] must be an integer in 0\.\.7 .*, got 9/);
    // Keeping all 8 rows generates nothing for that sample: an error, even beside samples that do generate.
    await expect(model.complete(image, { keepRows: [3, 8], processor })).rejects.toThrow(/keepRows\[1\] must be an integer in 0\.\.7 \(the image is 8 token rows high; at least one row is generated\), got 8/);
    // Samples keeping different rows report each generated row of each sample, with its pixels.
    const reported: { sample: number; row: number; tokens: Int32Array }[] = [];
    const perSample = await model.complete(image, {
      keepRows: [3, 5],
      processor,
      temperature: 0,
      onRow: ({ sample, row, tokens, pixels }) => {
        reported.push({ sample, row, tokens });
        expect(Array.from(pixels)).toEqual(Array.from(processor.decode(tokens, { height: 1, width: 8 }).data));
      },
    });
    expect(reported.map(({ sample, row }) => `${sample}:${row}`)).toEqual(['0:3', '0:4', '0:5', '1:5', '0:6', '1:6', '0:7', '1:7']);
    for (const { sample, row, tokens } of reported) expect(Array.from(tokens)).toEqual(Array.from(perSample[sample].tokens.subarray(row * 8, (row + 1) * 8)));
    expect(Array.from(perSample[1].tokens)).toEqual(Array.from(mixed[1].tokens));
  });

  it('complete with keepRows [2, 5, 7] runs one batch (one session) and equals each alone; seeded sampling repeats', async () => {
    const processor = new ImageGPTImageProcessor({ clusters: Array.from({ length: 512 }, (_, i) => [i / 512, 0, 0]), size: { height: 8, width: 8 } });
    const image = tiny.inputIds[1].slice(1).concat([3]).map((t) => t % 512);
    const keepRows = [2, 5, 7];
    const sessions = vi.spyOn(Runner.prototype, 'ready');
    const stats = { submits: 0, readbacks: 0, steps: 0 };
    let mixed;
    try {
      mixed = await model.complete(image, { keepRows, processor, temperature: 0, stats });
      expect(sessions).toHaveBeenCalledTimes(1);
    } finally {
      sessions.mockRestore();
    }
    // One step per token of the sample keeping the fewest rows (64 − 2 × 8).
    expect(stats.steps).toBe(64 - 16);
    for (const [i, k] of keepRows.entries()) {
      const [alone] = await model.complete(image, { keepRows: k, processor, temperature: 0 });
      expect(mixed[i].tokens.length).toBe(64);
      expect(Array.from(mixed[i].tokens)).toEqual(Array.from(alone.tokens));
      expect(Array.from(mixed[i].tokens.subarray(0, k * 8))).toEqual(image.slice(0, k * 8));
    }
    const seeded = () => model.complete(image, { keepRows: [6, 1, 4], processor, seed: 11, topK: 20 });
    const [a, b] = [await seeded(), await seeded()];
    expect(a.map((c) => Array.from(c.tokens))).toEqual(b.map((c) => Array.from(c.tokens)));
    a.forEach((c, i) => expect(Array.from(c.tokens.subarray(0, [6, 1, 4][i] * 8))).toEqual(image.slice(0, [6, 1, 4][i] * 8)));
    // A full image (nothing to generate) beside an empty prompt, through generate (complete refuses keeping every
    // row): the full row stays its image, at its own positions.
    const edge = await model.generate({ prompt: [image, []], temperature: 0 });
    const [empty] = await model.complete(image, { keepRows: 0, processor, temperature: 0 });
    expect(edge.length).toBe(2 * 64);
    expect(Array.from(edge.subarray(0, 64))).toEqual(image);
    expect(Array.from(edge.subarray(64, 128))).toEqual(Array.from(empty.tokens));
  });

  it('generate on ragged prompts without maxNewTokens fills every row: [B, 64], each row its own image', async () => {
    const stats = { submits: 0, readbacks: 0, steps: 0 };
    const out = await model.generate({ prompt: [long, short], temperature: 0, stats });
    const total = 64;
    expect(out.length).toBe(2 * total);
    // One step per token after the shortest prompt; one readback per image row.
    expect(stats.steps).toBe(64 - 16);
    expect(stats.readbacks).toBe(6);
    const row = (b: number) => Array.from(out.subarray(b * total, (b + 1) * total));
    const alone = await Promise.all([long, short].map((p) => model.generate({ prompt: [p], temperature: 0 })));
    expect(row(0)).toEqual(Array.from(alone[0]));
    expect(row(1)).toEqual(Array.from(alone[1]));
    // Users' sessions still stop at n_positions.
    expect(() => model.createSession(1, { maxLength: 65 })).toThrow(/maxLength must be an integer in 1\.\.64 \(n_positions\), got 65/);
  });
});
