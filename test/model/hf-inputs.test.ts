// HF ImageGPTModel's optional inputs (headMask, tokenTypeIds, inputsEmbeds) in forward and sessions, and
// features' normalize, against the CPU reference (test/reference/model.ts) on the tiny fixture model, fused and not;
// the default path's dispatches unchanged; bad inputs refused before any GPU work.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadModelFixture, relError } from '../helpers/fixtures';
import { referenceFeatures, referenceForward } from '../reference/model';
import { ImageGPT } from '../../src/model/imagegpt';
import { headMaskStride } from '../../src/gpu/attention';

const tiny = loadModelFixture('tiny');
const { n_layer: L, n_head: H, n_embd: E } = tiny.config;
const V1 = 512;
const wte = tiny.weights.get('transformer.wte.weight')!;

// Two rows of 24 tokens from the fixture's ids (ids 0..512, SOS first).
const ids = tiny.inputIds.map((row) => row.slice(0, 24));
const [B, T] = [ids.length, ids[0].length];
// Heads silenced, halved and amplified, different per layer: every kind of factor.
const headMask = [
  [1, 0, 0.5, 1],
  [0, 1, 1, 2],
];
const tokenTypeIds = ids.map((row, b) => row.map((_, t) => (t * 37 + b * 101) % 513));

/** Deterministic values in [-1, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1;
}

/** wte rows of the ids, as inputsEmbeds [B, T, E]. */
const wteOf = (rows: number[][]) => rows.map((row) => row.map((id) => Array.from(wte.subarray(id * E, (id + 1) * E))));

/** Logits at the last position of each row, [B, V1]. */
function lastLogits(logits: ArrayLike<number>, rows: number, length: number): Float64Array {
  const out = new Float64Array(rows * V1);
  for (let b = 0; b < rows; b++) for (let v = 0; v < V1; v++) out[b * V1 + v] = logits[(b * length + length - 1) * V1 + v];
  return out;
}

describe.each([
  ['fused', true],
  ['unfused', false],
] as const)('HF inputs, %s kernels, against the CPU reference', (_name, fuse) => {
  let model: ImageGPT;
  beforeAll(async () => {
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f32', tuning: { fuse } });
  });
  afterAll(() => model?.dispose());

  it('headMask [n_layer][n_head] with silenced heads: logits, hidden states and the masked attentions', async () => {
    const ref = referenceForward(tiny.config, tiny.weights, ids, { headMask });
    const out = await model.forward(ids, { headMask, outputHiddenStates: true, outputAttentions: true });
    expect(relError(out.logits, ref.logits)).toBeLessThan(1e-4);
    for (let k = 0; k <= L; k++) expect(relError(out.hiddenStates![k], ref.hiddenStates[k]), `hidden ${k}`).toBeLessThan(1e-4);
    for (let l = 0; l < L; l++) {
      expect(relError(out.attentions![l], ref.attentions[l]), `attentions ${l}`).toBeLessThan(1e-4);
      // A silenced head's weights are all 0, a doubled head's rows sum to 2 (HF returns the scaled weights).
      for (let h = 0; h < H; h++) {
        let sum = 0;
        for (let s = 0; s < T; s++) sum += out.attentions![l][((0 * H + h) * T + 5) * T + s];
        expect(sum).toBeCloseTo(headMask[l][h], 5);
      }
    }
    // The mask changes the result (the test would notice a mask that is ignored).
    const plain = referenceForward(tiny.config, tiny.weights, ids);
    expect(relError(plain.logits, ref.logits)).toBeGreaterThan(1e-2);
  });

  it('headMask [n_head] is broadcast to every layer', async () => {
    const mask = [0, 1, 0.25, 1];
    const ref = referenceForward(tiny.config, tiny.weights, ids, { headMask: [mask, mask] });
    const out = await model.forward(ids, { headMask: mask });
    expect(relError(out.logits, ref.logits)).toBeLessThan(1e-4);
  });

  it('tokenTypeIds are embedded through wte and added', async () => {
    const ref = referenceForward(tiny.config, tiny.weights, ids, { tokenTypeIds });
    const out = await model.forward(ids, { tokenTypeIds, outputHiddenStates: true });
    expect(relError(out.hiddenStates![0], ref.hiddenStates[0])).toBeLessThan(1e-6);
    expect(relError(out.logits, ref.logits)).toBeLessThan(1e-4);
  });

  it('inputsEmbeds = wte[ids] reproduces the ids forward; other embeds match the reference', async () => {
    const fromIds = await model.forward(ids, { outputHiddenStates: true });
    const fromEmbeds = await model.forward(null, { inputsEmbeds: wteOf(ids), outputHiddenStates: true });
    expect(relError(fromEmbeds.logits, fromIds.logits)).toBeLessThan(1e-6);
    expect(relError(fromEmbeds.hiddenStates![0], fromIds.hiddenStates![0])).toBe(0);
    const rand = lcg(7);
    const inputsEmbeds = ids.map((row) => row.map(() => Array.from({ length: E }, () => 0.1 * rand())));
    const ref = referenceForward(tiny.config, tiny.weights, null, { inputsEmbeds });
    const out = await model.forward(null, { inputsEmbeds, tokenTypeIds, headMask, outputHiddenStates: true });
    const refAll = referenceForward(tiny.config, tiny.weights, null, { inputsEmbeds, tokenTypeIds, headMask });
    expect(relError((await model.forward(null, { inputsEmbeds })).logits, ref.logits)).toBeLessThan(1e-4);
    expect(relError(out.logits, refAll.logits)).toBeLessThan(1e-4);
    // labels work without ids (HF: labels are given apart from the inputs).
    const labels = ids.map((row) => row.map((id) => (id === 512 ? -100 : id)));
    const withLoss = await model.forward(null, { inputsEmbeds: wteOf(ids), labels });
    expect(withLoss.loss!).toBeCloseTo((await model.forward(ids, { labels })).loss!, 5);
  });

  it('sessions: prefill in chunks and steps take the same inputs and equal the full forward', async () => {
    const prefix = 15;
    const full = referenceForward(tiny.config, tiny.weights, ids, { headMask, tokenTypeIds });
    // maxRows 8: the prefix runs in chunks of 4 tokens per row.
    const session = model.createSession(B, { maxRows: 8 });
    try {
      const first = await session.prefill(ids.map((r) => r.slice(0, prefix)), {
        headMask,
        tokenTypeIds: tokenTypeIds.map((r) => r.slice(0, prefix)),
      });
      const refFirst = lastLogits(referenceForward(tiny.config, tiny.weights, ids.map((r) => r.slice(0, prefix)), { headMask, tokenTypeIds: tokenTypeIds.map((r) => r.slice(0, prefix)) }).logits, B, prefix);
      expect(relError(first, refFirst)).toBeLessThan(1e-4);
      let last = first;
      for (let t = prefix; t < T; t++) {
        last = await session.step(ids.map((r) => r[t]), { headMask, tokenTypeIds: tokenTypeIds.map((r) => r[t]) });
      }
      expect(relError(last, lastLogits(full.logits, B, T))).toBeLessThan(1e-4);

      // inputsEmbeds in a chunked prefill, then ids: the same as the ids alone.
      session.reset();
      await session.prefill(null, { inputsEmbeds: wteOf(ids.map((r) => r.slice(0, prefix))) });
      for (let t = prefix; t < T; t++) last = await session.step(ids.map((r) => r[t]));
      const plain = referenceForward(tiny.config, tiny.weights, ids);
      expect(relError(last, lastLogits(plain.logits, B, T))).toBeLessThan(1e-4);
    } finally {
      session.dispose();
    }
  });

  it('features normalize: ln_1-normed hidden states, single- and multi-layer forms; layer n_layer as it is', async () => {
    for (const layer of [0, 1, L]) {
      const got = await model.features(ids, { layer, normalize: true });
      expect(relError(got, referenceFeatures(tiny.config, tiny.weights, ids, layer, true)), `layer ${layer}`).toBeLessThan(1e-4);
    }
    const raw = await model.features(ids, { layer: 1, normalize: false });
    expect(relError(raw, referenceFeatures(tiny.config, tiny.weights, ids, 1, false))).toBeLessThan(1e-4);
    expect(relError(raw, referenceFeatures(tiny.config, tiny.weights, ids, 1, true))).toBeGreaterThan(0.1);
    // Three inputs in batches of 2 (the last padded), all layers at once.
    const many = [...ids, ids[0].map((id, t) => (id + t) % 512)];
    const all = await model.features(many, { layers: [0, 1, 2], normalize: true, batchSize: 2 });
    for (const layer of [0, 1, 2]) {
      expect(relError(all.get(layer)!, referenceFeatures(tiny.config, tiny.weights, many, layer, true)), `layer ${layer}`).toBeLessThan(1e-4);
    }
  });
});

describe('HF inputs: what they cost and what is refused', () => {
  let model: ImageGPT;
  beforeAll(async () => {
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f32', tuning: { fuse: true } });
  });
  afterAll(() => model?.dispose());

  it('the default path keeps its dispatches (embed + 5 per layer + head); a head mask adds one per layer', () => {
    const session = model.createSession(1, { maxLength: 8 });
    const mask = model.device.createBuffer({ size: L * headMaskStride(model.device.limits, H), usage: GPUBufferUsage.STORAGE });
    try {
      const count = (opts: { headMask?: GPUBuffer; tokenTypes?: GPUBuffer }) => {
        let dispatches = 0;
        const pass = { setPipeline() {}, setBindGroup() {}, dispatchWorkgroups() { dispatches++; }, end() {} };
        const encoder = { beginComputePass: () => pass } as unknown as GPUCommandEncoder;
        session.runner.forwardPlan.encode(encoder, { batch: 1, seq: 1, past: 3 }, { head: true, ...opts });
        return dispatches;
      };
      expect(count({})).toBe(1 + 5 * L + 1);
      expect(count({ headMask: mask })).toBe(1 + 6 * L + 1);
      expect(count({ tokenTypes: session.runner.buffers.ids })).toBe(1 + 5 * L + 1);
    } finally {
      mask.destroy();
      session.dispose();
    }
  });

  it('a classifier checkpoint takes them too: inputsEmbeds = wte[ids] gives the ids\' logits, a head mask changes them', async () => {
    const cls = loadModelFixture('classifier');
    const model2 = await ImageGPT.fromPretrained({ config: cls.configJson, weights: cls.weightBytes }, { device: await getTestDevice(), dtype: 'f32' });
    try {
      const clsWte = cls.weights.get('transformer.wte.weight')!;
      const E2 = cls.config.n_embd;
      const embeds = cls.inputIds.map((row) => row.map((id) => Array.from(clsWte.subarray(id * E2, (id + 1) * E2))));
      const plain = (await model2.forward(cls.inputIds)).logits;
      expect(relError(plain, cls.expected.get('logits')!)).toBeLessThan(1e-4);
      expect(relError((await model2.forward(null, { inputsEmbeds: embeds })).logits, plain)).toBeLessThan(1e-5);
      const silenced = new Array<number>(cls.config.n_head).fill(0);
      expect(relError((await model2.forward(cls.inputIds, { headMask: silenced })).logits, plain)).toBeGreaterThan(1e-3);
    } finally {
      model2.dispose();
    }
  });

  it('refuses bad shapes and values, naming the input and what was expected', async () => {
    const bad: [unknown, unknown, RegExp][] = [
      [ids, { headMask: [1, 1, 1] }, /forward: headMask must hold 4 values \(one per head\), got 3 values/],
      [ids, { headMask: [[1, 1, 1, 1]] }, /forward: headMask has 1 rows; expected \[4\] \(n_head.*or \[2\]\[4\]/],
      [ids, { headMask: [[1, 1, 1, 1], [1, NaN, 1, 1]] }, /forward: headMask\[1\]\[1\] = NaN; expected a finite number/],
      [ids, { headMask: [1, Infinity, 1, 1] }, /headMask\[1\] = Infinity; expected a finite number/],
      [ids, { headMask: 1 }, /headMask must be \[4\]/],
      [ids, { tokenTypeIds: ids.map((r) => r.map(() => 513)) }, /forward: tokenTypeIds\[0\]\[0\] = 513; expected a token id in 0\.\.512/],
      [ids, { tokenTypeIds: [ids[0]] }, /forward: tokenTypeIds must be 2 rows/],
      [ids, { tokenTypeIds: ids.map((r) => r.map(() => 0.5)) }, /tokenTypeIds\[0\]\[0\] = 0\.5/],
      [ids, { inputsEmbeds: wteOf(ids) }, /forward: give inputIds or options\.inputsEmbeds, not both/],
      [null, {}, /forward: give inputIds \(number\[\]\[\]\) or options\.inputsEmbeds .*got neither/],
      [null, { inputsEmbeds: [[[1, 2]]] }, /forward: inputsEmbeds\[0\]\[0\] must hold 64 values \(n_embd\), got 2 values/],
      [null, { inputsEmbeds: [...wteOf(ids).slice(0, 1), wteOf(ids)[1].slice(1)] }, /inputsEmbeds\[1\] must hold 24 tokens/],
      [null, { inputsEmbeds: [[new Array(E).fill(0).map((_, e) => (e === 3 ? NaN : 0))]] }, /inputsEmbeds\[0\]\[0\]\[3\] = NaN; expected a finite number/],
      [null, { inputsEmbeds: [Array.from({ length: 65 }, () => new Array(E).fill(0))] }, /65 tokens per row, more than n_positions \(64\)/],
    ];
    for (const [input, options, message] of bad) {
      await expect(model.forward(input as number[][], options as object), JSON.stringify(options).slice(0, 80)).rejects.toThrow(message);
    }
    const session = model.createSession(B);
    try {
      await expect(session.step([1, 2], { inputsEmbeds: [[0]] } as object)).rejects.toThrow(/step: unknown option "inputsEmbeds"/);
      await expect(session.step([1, 2], { tokenTypeIds: [1] })).rejects.toThrow(/step: tokenTypeIds must hold 2 values/);
      await expect(session.prefill(null, { headMask: [1, 1, 1, 1] })).rejects.toThrow(/prefill: give inputIds .*got neither/);
      await expect(model.features(ids, { layer: 1, normalize: 1 as unknown as boolean })).rejects.toThrow(/features: normalize must be true or false, got 1/);
    } finally {
      session.dispose();
    }
  });
});
