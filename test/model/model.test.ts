import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadModelFixture, relError, type ModelFixture } from '../helpers/fixtures';
import { referenceForward } from '../reference/model';
import { ImageGPT } from '../../src/model/imagegpt';

const tiny = loadModelFixture('tiny');

describe('CPU reference vs the PyTorch fixtures', () => {
  for (const name of ['tiny', 'tiny-inv']) {
    it(`${name}: logits and hidden states agree`, () => {
      const fx: ModelFixture = name === 'tiny' ? tiny : loadModelFixture(name);
      const ref = referenceForward(fx.config, fx.weights, fx.inputIds);
      expect(relError(ref.logits, fx.expected.get('logits')!)).toBeLessThan(1e-5);
      for (let k = 0; k <= fx.config.n_layer; k++) {
        expect(relError(ref.hiddenStates[k], fx.expected.get(`hidden_states.${k}`)!)).toBeLessThan(1e-5);
      }
    });
  }
});

describe.each(['f32', 'f16'] as const)('ImageGPT on WebGPU, %s weights', (dtype) => {
  const tol = dtype === 'f32' ? 1e-4 : 2e-2;
  let model: ImageGPT;
  beforeAll(async () => {
    const device = await getTestDevice();
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype });
  });
  afterAll(() => model?.dispose());

  it('forward matches the fixture: logits and every hidden state', async () => {
    const { logits, hiddenStates } = await model.forward(tiny.inputIds, { outputHiddenStates: true });
    expect(logits.length).toBe(2 * 64 * 512);
    expect(relError(logits, tiny.expected.get('logits')!)).toBeLessThan(tol);
    expect(hiddenStates).toHaveLength(tiny.config.n_layer + 1);
    for (let k = 0; k <= tiny.config.n_layer; k++) {
      expect(relError(hiddenStates![k], tiny.expected.get(`hidden_states.${k}`)!)).toBeLessThan(tol);
    }
  });

  it('KV cache: prefill + steps equal the full forward, across prefill chunks', async () => {
    const expected = tiny.expected.get('logits')!;
    const V1 = 512;
    const T = 64;
    // maxRows 2×7: the 40-token prefill runs in 6 chunks of 7 and one of 5, none aligned to a tile.
    const session = model.createSession(2, { maxRows: 14 });
    try {
      const prefixLen = 40;
      const last = await session.prefill(tiny.inputIds.map((r) => r.slice(0, prefixLen)));
      const pick = (t: number) => {
        const out = new Float32Array(2 * V1);
        for (let b = 0; b < 2; b++) out.set(expected.subarray((b * T + t) * V1, (b * T + t + 1) * V1), b * V1);
        return out;
      };
      expect(relError(last, pick(prefixLen - 1))).toBeLessThan(tol);
      for (let t = prefixLen; t < T; t++) {
        const next = await session.step([tiny.inputIds[0][t], tiny.inputIds[1][t]]);
        expect(relError(next, pick(t))).toBeLessThan(tol);
      }
      expect(session.length).toBe(T);
      await expect(session.step([1, 2])).rejects.toThrow(/exceeds the session's maxLength/);
    } finally {
      session.dispose();
    }
  });

  it('features = mean over T of one hidden state', async () => {
    const E = tiny.config.n_embd;
    for (const layer of [0, 1, 2]) {
      const feats = await model.features(tiny.inputIds, { layer });
      const hidden = tiny.expected.get(`hidden_states.${layer}`)!;
      const mean = new Float32Array(2 * E);
      for (let b = 0; b < 2; b++) for (let t = 0; t < 64; t++) for (let e = 0; e < E; e++) mean[b * E + e] += hidden[(b * 64 + t) * E + e] / 64;
      expect(relError(feats, mean)).toBeLessThan(tol);
    }
  });
});

describe('tiny-inv (scale_attn_by_inverse_layer_idx)', () => {
  it('matches its fixture', async () => {
    const fx = loadModelFixture('tiny-inv');
    const device = await getTestDevice();
    const model = await ImageGPT.fromPretrained({ config: fx.configJson, weights: fx.weightBytes }, { device, dtype: 'f32' });
    try {
      const { logits } = await model.forward(fx.inputIds);
      expect(relError(logits, fx.expected.get('logits')!)).toBeLessThan(1e-4);
    } finally {
      model.dispose();
    }
  });
});

describe('bad input gets a clear error before any GPU work', () => {
  let model: ImageGPT;
  beforeAll(async () => {
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f32' });
  });
  afterAll(() => model?.dispose());

  it('rejects ids out of range, ragged rows, too long sequences', async () => {
    await expect(model.forward([[1, 513]])).rejects.toThrow(/^forward: inputIds\[0\]\[1\] = 513.*0\.\.512/);
    await expect(model.forward([[1, -1]])).rejects.toThrow(/= -1/);
    await expect(model.forward([[1, 2.5]])).rejects.toThrow(/= 2.5/);
    await expect(model.forward([[1, 2], [3]])).rejects.toThrow(/ragged/);
    await expect(model.forward([])).rejects.toThrow(/non-empty/);
    await expect(model.forward([new Array(65).fill(0)])).rejects.toThrow(/exceeds n_positions \(64\)/);
    await expect(model.features([[1, 2]], { layer: 3 })).rejects.toThrow(/layer must be an integer in 0\.\.2/);
    const s = model.createSession(2);
    await expect(s.step([1])).rejects.toThrow(/expected 2 tokens/);
    await expect(s.prefill([[1], [600]])).rejects.toThrow(/prefill\[1\]\[0\] = 600/);
    s.dispose();
    await expect(s.step([1, 2])).rejects.toThrow(/after dispose/);
    expect(() => model.createSession(0)).toThrow(/batchSize/);
  });

  it('rejects checkpoints that do not fit the config', async () => {
    const device = await getTestDevice();
    const cfg = { ...tiny.configJson, n_layer: 3 };
    await expect(ImageGPT.fromPretrained({ config: cfg, weights: tiny.weightBytes }, { device })).rejects.toThrow(/missing tensor "transformer\.h\.2\.ln_1\.weight"/);
    const wide = { ...tiny.configJson, n_embd: 128 };
    await expect(ImageGPT.fromPretrained({ config: wide, weights: tiny.weightBytes }, { device })).rejects.toThrow(/shape \[513, 64\], expected \[513, 128\]/);
    const fewer = { ...tiny.configJson, n_layer: 1 };
    await expect(ImageGPT.fromPretrained({ config: fewer, weights: tiny.weightBytes }, { device })).rejects.toThrow(/unexpected tensor/);
    await expect(ImageGPT.fromPretrained({ config: { ...tiny.configJson, n_head: 5 }, weights: tiny.weightBytes }, { device })).rejects.toThrow(/divisible by n_head/);
    await expect(ImageGPT.fromPretrained({ config: { ...tiny.configJson, activation_function: 'relu' }, weights: tiny.weightBytes }, { device })).rejects.toThrow(/relu.*not supported/);
    await expect(ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes.slice(0, 1000) }, { device })).rejects.toThrow();
  });

  it('dispose frees the model; memory is reported', async () => {
    const device = await getTestDevice();
    const m = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype: 'f16' });
    const m32 = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype: 'f32' });
    // f16 matrices take half; the small f32 vectors (biases, norms) stay f32.
    expect(m.memory().weightBytes).toBeLessThan(0.55 * m32.memory().weightBytes);
    const s = m.createSession(3);
    expect(m.memory().sessionBytes).toBe(s.runner.gpuBytes);
    m.dispose();
    m32.dispose();
    expect(() => m.createSession(1)).toThrow(/after dispose/);
  });
});
