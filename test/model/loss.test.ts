// Labels → loss on the GPU (causal LM), the classifier's losses and bitsPerToken, against PyTorch fixtures
// (weights-tools/make_loss_fixtures.py) and the CPU.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageGPT } from '../../src/model/imagegpt';
import { parseSafetensors, tensorToFloat32, writeSafetensors } from '../../src/safetensors';
import { getTestDevice } from '../helpers/gpu';
import { FIXTURES, loadModelFixture, relError } from '../helpers/fixtures';
import { failure } from '../helpers/failure';

const SOS = 512;
const tiny = loadModelFixture('tiny');
const classifier = loadModelFixture('classifier');

function lossFixture(name: string): Map<string, { values: Float32Array; ints: Int32Array | null; shape: number[] }> {
  const file = parseSafetensors(new Uint8Array(readFileSync(join(FIXTURES, name, 'loss.safetensors'))));
  const out = new Map<string, { values: Float32Array; ints: Int32Array | null; shape: number[] }>();
  for (const [n, t] of file.tensors) {
    const ints = t.dtype === 'I32' ? new Int32Array(t.data.slice().buffer) : null;
    out.set(n, { values: ints ? Float32Array.from(ints) : tensorToFloat32(t), ints, shape: [...t.shape] });
  }
  return out;
}

const tinyLoss = lossFixture('tiny');
const clsLoss = lossFixture('classifier');
const rows = (v: { values: Float32Array; shape: number[] }): number[][] =>
  Array.from({ length: v.shape[0] }, (_, b) => Array.from(v.values.subarray(b * v.shape[1], (b + 1) * v.shape[1])));
const labels = rows(tinyLoss.get('labels')!);
const scalar = (name: string, m = tinyLoss) => m.get(name)!.values[0];

describe('forward({ labels }): causal LM loss on the GPU', () => {
  let model: ImageGPT;
  beforeAll(async () => {
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f32' });
  });
  afterAll(() => model?.dispose());

  it('f32: loss and per-token loss match the PyTorch fixture, -100 ignored (tokenLoss 0 there)', async () => {
    const out = await model.forward(tiny.inputIds, { labels });
    expect(Math.abs(out.loss! - scalar('loss')) / scalar('loss')).toBeLessThan(1e-5);
    expect(out.tokenLoss!.length).toBe(2 * 63);
    expect(relError(out.tokenLoss!, tinyLoss.get('token_loss')!.values)).toBeLessThan(1e-5);
    labels.forEach((row, b) => row.slice(1).forEach((l, t) => l === -100 && expect(out.tokenLoss![b * 63 + t]).toBe(0)));
    // The logits come too (default), equal to a forward without labels.
    expect(relError(out.logits, (await model.forward(tiny.inputIds)).logits)).toBe(0);
    const all = await model.forward(tiny.inputIds, { labels: tiny.inputIds.map((r) => r.map((t) => (t === SOS ? -100 : t))) });
    expect(Math.abs(all.loss! - scalar('loss_all')) / scalar('loss_all')).toBeLessThan(1e-5);
  });

  it('outputLogits: false reads back only the losses; hidden states still come when asked', async () => {
    const out = await model.forward(tiny.inputIds, { labels, outputLogits: false, outputHiddenStates: true });
    expect(out.logits).toBeUndefined();
    expect(out.hiddenStates).toHaveLength(3);
    expect(relError(out.hiddenStates![2], tiny.expected.get('hidden_states.2')!)).toBeLessThan(1e-4);
    expect(Math.abs(out.loss! - scalar('loss')) / scalar('loss')).toBeLessThan(1e-5);
    // Asking for no output at all is refused, not answered with {} (a silent no-op).
    expect((await failure(() => model.forward(tiny.inputIds, { outputLogits: false }))).message).toMatch(/^forward: outputLogits: false with no labels, outputHiddenStates or outputAttentions asks for nothing/);
  });

  it('several prefill chunks (17 rows × 64 tokens > 1024 rows per chunk) give each row its own targets', async () => {
    const ids = Array.from({ length: 17 }, (_, b) => tiny.inputIds[b % 2]);
    const lab = Array.from({ length: 17 }, (_, b) => labels[b % 2]);
    const out = await model.forward(ids, { labels: lab, outputLogits: false });
    const want = tinyLoss.get('token_loss')!.values;
    for (let b = 0; b < 17; b++) {
      expect(relError(out.tokenLoss!.subarray(b * 63, (b + 1) * 63), want.subarray((b % 2) * 63, (b % 2 + 1) * 63))).toBeLessThan(1e-5);
    }
  });

  it('-100 everywhere gives NaN (0/0, as HF) and zero token losses; one token per row has nothing to predict', async () => {
    const out = await model.forward(tiny.inputIds, { labels: labels.map((r) => r.map(() => -100)), outputLogits: false });
    expect(Number.isNaN(out.loss)).toBe(true);
    expect(out.tokenLoss!.every((v) => v === 0)).toBe(true);
    const one = await model.forward([[SOS]], { labels: [[3]] });
    expect(one.tokenLoss!.length).toBe(0);
    expect(Number.isNaN(one.loss)).toBe(true);
  });

  it("HF's labels = input_ids: column 0 (SOS) is shifted away, any integer there; loss 7.269909858703613 (HF v4.36.2)", async () => {
    const ids = [[SOS, 1, 2, 3, 4, 5]];
    const hf = 7.269909858703613; // ImageGPTForCausalImageModeling(tiny)(ids, labels=ids).loss
    const out = await model.forward(ids, { labels: ids });
    expect(Math.abs(out.loss! - hf) / hf).toBeLessThan(1e-5);
    // Column 0 is never a target: any integer there gives the same loss; a non-integer is still refused.
    for (const first of [0, -100, 9999, -7]) {
      expect((await model.forward(ids, { labels: [[first, 1, 2, 3, 4, 5]], outputLogits: false })).loss).toBe(out.loss);
    }
    expect((await failure(() => model.forward(ids, { labels: [[0.5, 1, 2, 3, 4, 5]] }))).message).toMatch(/labels\[0\]\[0\] = 0\.5: labels must be integers/);
    expect((await failure(() => model.forward(ids, { labels: [[SOS, 1, SOS, 3, 4, 5]] }))).message).toMatch(/labels\[0\]\[2\] = 512/);
  });

  it('bad labels are Errors naming row, column and value, before any GPU work', async () => {
    const ids = [[SOS, 1, 2], [SOS, 3, 4]];
    const spy = vi.spyOn(model.kernels, 'crossEntropy');
    expect((await failure(() => model.forward(ids, { labels: [[1, 2, 3], [1, 512, 3]] }))).message).toMatch(/labels\[1\]\[1\] = 512: labels must be integers in 0\.\.511 .*or -100/);
    expect((await failure(() => model.forward(ids, { labels: [[1, 2, -1], [1, 2, 3]] }))).message).toMatch(/labels\[0\]\[2\] = -1/);
    expect((await failure(() => model.forward(ids, { labels: [[1, 2.5, 3], [1, 2, 3]] }))).message).toMatch(/labels\[0\]\[1\] = 2\.5/);
    expect((await failure(() => model.forward(ids, { labels: [[1, 2, 3]] }))).message).toMatch(/labels must be an array of 2 rows like inputIds.*got 1 rows/);
    expect((await failure(() => model.forward(ids, { labels: [[1, 2, 3], [1, 2]] }))).message).toMatch(/labels\[1\] must have 3 labels.*got 2 labels/);
    expect((await failure(() => model.forward(ids, { labels: 'x' as never }))).message).toMatch(/labels must be an array/);
    expect((await failure(() => model.forward(ids, { outputLogits: 1 as never }))).message).toMatch(/outputLogits must be true or false/);
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
  });

  it('a forward without labels records no loss op', async () => {
    const spy = vi.spyOn(model.kernels, 'crossEntropy');
    await model.forward(tiny.inputIds, { outputHiddenStates: true });
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
  });

  it('bitsPerToken: SOS first, every token scored; equals log-softmax of the forward on the CPU', async () => {
    const tokens = [tiny.inputIds[1], tiny.inputIds[1].map((t) => (t * 7 + 3) % 512)];
    const fake = { encode: () => ({ inputIds: tokens }) };
    const r = await model.bitsPerToken([{}, {}], { processor: fake, batchSize: 1 });
    expect([r.width, r.height]).toEqual([8, 8]);
    expect(r.surprise.length).toBe(2 * 64);
    const { logits } = await model.forward(tokens.map((row) => [SOS, ...row.slice(0, 63)]));
    const want = new Float64Array(2 * 64);
    for (let i = 0; i < want.length; i++) {
      const row = logits.subarray(i * 512, (i + 1) * 512);
      const peak = Math.max(...row);
      const lse = peak + Math.log(row.reduce((s, v) => s + Math.exp(v - peak), 0));
      want[i] = (lse - row[tokens[Math.floor(i / 64)][i % 64]]) / Math.LN2;
    }
    expect(relError(r.surprise, want)).toBeLessThan(1e-5);
    for (let b = 0; b < 2; b++) {
      const mean = want.subarray(b * 64, (b + 1) * 64).reduce((s, v) => s + v, 0) / 64;
      expect(Math.abs(r.bitsPerToken[b] - mean) / mean).toBeLessThan(1e-5);
    }
    const rowsAgain = await model.bitsPerToken(tokens, { width: 16 });
    expect([rowsAgain.width, rowsAgain.height]).toEqual([16, 4]);
    expect(relError(rowsAgain.surprise, r.surprise)).toBeLessThan(1e-6);
    await expect(model.bitsPerToken([tiny.inputIds[0]])).rejects.toThrow(/inputs\[0\]\[0\] is SOS/);
    await expect(model.bitsPerToken(tokens, { width: 7 })).rejects.toThrow(/width must be an integer that divides the 64 tokens/);
    await expect(model.bitsPerToken(tokens, { sos: true } as never)).rejects.toThrow(/unknown option "sos"/);
  });

  it('bitsPerToken: onProgress says after each GPU batch how many are done; the batches give what one batch gives', async () => {
    const images = Array.from({ length: 5 }, (_, i) => tiny.inputIds[i % tiny.inputIds.length].map((t) => (t * (i + 3) + i) % 512));
    const events: string[] = [];
    const batched = await model.bitsPerToken(images, { batchSize: 2, onProgress: ({ done, total }) => events.push(`${done}/${total}`) });
    expect(events).toEqual(['0/5', '2/5', '4/5', '5/5']);
    const whole = await model.bitsPerToken(images, { batchSize: 5 });
    expect(relError(batched.surprise, whole.surprise)).toBeLessThan(1e-6);
    expect(relError(batched.bitsPerToken, whole.bitsPerToken)).toBeLessThan(1e-6);
    await expect(model.bitsPerToken(images, { onProgress: 1 as never })).rejects.toThrow(/bitsPerToken: onProgress must be a function, got number/);
  });
});

describe('forward({ labels }) f16', () => {
  it('loss within 2e-2 of the fixture', async () => {
    const model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f16' });
    try {
      const out = await model.forward(tiny.inputIds, { labels, outputLogits: false });
      expect(Math.abs(out.loss! - scalar('loss')) / scalar('loss')).toBeLessThan(2e-2);
    } finally {
      model.dispose();
    }
  });
});

describe('classifier forward({ labels }): HF problem types', () => {
  const load = async (config: Record<string, unknown>, weights: Uint8Array = classifier.weightBytes) =>
    ImageGPT.fromPretrained({ config, weights }, { device: await getTestDevice(), dtype: 'f32' });
  const close = (got: number | undefined, name: string) => expect(Math.abs(got! - scalar(name, clsLoss)) / scalar(name, clsLoss)).toBeLessThan(1e-4);

  it('single-label (integer labels), multi-label (0/1 per class), regression (problem_type) match PyTorch', async () => {
    const cls = await load(classifier.configJson);
    try {
      const single = Array.from(clsLoss.get('single_labels')!.ints!);
      const out = await cls.forward(classifier.inputIds, { labels: single });
      expect(relError(out.logits, classifier.expected.get('logits')!)).toBeLessThan(1e-4);
      close(out.loss, 'single_loss');
      close((await cls.forward(classifier.inputIds, { labels: rows(clsLoss.get('multi_labels')!) })).loss, 'multi_loss');
      const withHidden = await cls.forward(classifier.inputIds, { labels: single, outputHiddenStates: true, outputLogits: false });
      expect(withHidden.logits).toBeUndefined();
      expect(withHidden.hiddenStates).toHaveLength(3);
      close(withHidden.loss, 'single_loss');
      expect((await cls.forward(classifier.inputIds)).loss).toBeUndefined();
      await expect(cls.forward(classifier.inputIds, { labels: [5, 0] })).rejects.toThrow(/labels\[0\] = 5: class labels must be integers in 0\.\.4/);
      await expect(cls.forward(classifier.inputIds, { labels: [[0, 1, 0, 1, 2], [0, 0, 0, 0, 0]] })).rejects.toThrow(/labels\[0\]\[4\] = 2: expected a target in 0\.\.1/);
      await expect(cls.forward(classifier.inputIds, { labels: [[0, 1], [1, 0]] })).rejects.toThrow(/labels\[0\] must be an array of 5 numbers/);
      await expect(cls.bitsPerToken(classifier.inputIds)).rejects.toThrow(/no lm_head/);
    } finally {
      cls.dispose();
    }
    const reg = await load({ ...classifier.configJson, problem_type: 'regression' });
    try {
      expect(reg.config.problem_type).toBe('regression');
      close((await reg.forward(classifier.inputIds, { labels: rows(clsLoss.get('regression_labels')!) })).loss, 'regression_loss');
    } finally {
      reg.dispose();
    }
    await expect(load({ ...classifier.configJson, problem_type: 'ordinal' })).rejects.toThrow(/"problem_type" must be one of "regression", .* or null, got "ordinal"/);
  });

  it('one label: regression (MSE) without problem_type', async () => {
    const tensors = [...classifier.weights].map(([name, values]) => {
      const data = name === 'score.weight' ? values.slice(0, 48) : values;
      const shape = name === 'score.weight' ? [1, 48] : shapeOf(name);
      return { name, dtype: 'F32' as const, shape, data };
    });
    const one = await load({ ...classifier.configJson, id2label: { 0: 'score' }, label2id: { score: 0 } }, writeSafetensors(tensors));
    try {
      const out = await one.forward(classifier.inputIds, { labels: Array.from(clsLoss.get('regression1_labels')!.values) });
      expect(out.logits.length).toBe(2);
      close(out.loss, 'regression1_loss');
    } finally {
      one.dispose();
    }
  });
});

const shapes = new Map(
  [...parseSafetensors(classifier.weightBytes).tensors].map(([n, t]) => [n, [...t.shape]] as const),
);
function shapeOf(name: string): number[] {
  return [...shapes.get(name)!];
}
