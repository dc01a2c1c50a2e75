// forward({ outputAttentions }) and attentionRow: each layer's attention weights computed on the GPU only when
// asked, against PyTorch (weights-tools/make_attention_fixtures.py, HF output_attentions semantics) for tiny and
// tiny-inv (scale_attn_by_inverse_layer_idx), and against the float64 CPU reference.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner, SessionOptions } from '../../src/model/runner';
import { ImageGPT } from '../../src/model/imagegpt';
import { parseSafetensors, tensorToFloat32 } from '../../src/safetensors';
import { getTestDevice } from '../helpers/gpu';
import { FIXTURES, loadModelFixture, type ModelFixture } from '../helpers/fixtures';
import { failure } from '../helpers/failure';
import { referenceForward } from '../reference/model';

function attentionFixture(name: string): Float32Array[] {
  const file = parseSafetensors(new Uint8Array(readFileSync(join(FIXTURES, name, 'attentions.safetensors'))));
  const out: Float32Array[] = [];
  for (let l = 0; file.tensors.has(`attentions.${l}`); l++) out.push(tensorToFloat32(file.tensors.get(`attentions.${l}`)!));
  return out;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst;
}

/** Every session the model makes gets this many rows per chunk (several prefill chunks, none aligned). */
/** Where the model's tasks get their runners (private to the façade). */
type RunnerOpener = { openRunner(batch: number, options: SessionOptions): Runner };

function forceMaxRows(model: ImageGPT, rowsPerSequence: number): void {
  const opener = model as unknown as RunnerOpener;
  const open = opener.openRunner.bind(model);
  vi.spyOn(opener, 'openRunner').mockImplementation((batch, options = {}) => open(batch, { ...options, maxRows: batch * rowsPerSequence }));
}

const FIXTURE_NAMES = ['tiny', 'tiny-inv'] as const;

describe.each(['f32', 'f16'] as const)('attention weights on the GPU, %s weights', (dtype) => {
  const tolerance = dtype === 'f32' ? 1e-5 : 2e-2;
  const models = new Map<string, { model: ImageGPT; fixture: ModelFixture; want: Float32Array[] }>();
  beforeAll(async () => {
    const device = await getTestDevice();
    for (const name of FIXTURE_NAMES) {
      const fixture = loadModelFixture(name);
      const model = await ImageGPT.fromPretrained({ config: fixture.configJson, weights: fixture.weightBytes }, { device, dtype });
      models.set(name, { model, fixture, want: attentionFixture(name) });
    }
  });
  afterAll(() => {
    for (const { model } of models.values()) model.dispose();
  });

  for (const name of FIXTURE_NAMES) {
    it(`${name}: forward's attentions match PyTorch's [B, H, T, T] per layer; rows sum to 1, 0 above the diagonal`, async () => {
      const { model, fixture, want } = models.get(name)!;
      const { n_layer: L, n_head: H } = fixture.config;
      const B = fixture.inputIds.length;
      const T = fixture.inputIds[0].length;
      const out = await model.forward(fixture.inputIds, { outputAttentions: true });
      expect(out.attentions).toHaveLength(L);
      // The logits are unchanged by the extra work.
      expect(maxAbs(out.logits, (await model.forward(fixture.inputIds)).logits)).toBe(0);
      for (let l = 0; l < L; l++) {
        const a = out.attentions![l];
        expect(a.length).toBe(B * H * T * T);
        expect(maxAbs(a, want[l]), `layer ${l}`).toBeLessThan(tolerance);
        for (let row = 0; row < B * H * T; row++) {
          const t = row % T;
          const r = a.subarray(row * T, (row + 1) * T);
          expect(r.subarray(t + 1).every((v) => v === 0)).toBe(true);
          let sum = 0;
          for (const v of r) sum += v;
          expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
        }
      }
    });

    it(`${name}: several prefill chunks (7 rows per sequence) give the same attentions, and attentionRow equals their rows`, async () => {
      const { model, fixture, want } = models.get(name)!;
      const { n_layer: L, n_head: H } = fixture.config;
      const T = fixture.inputIds[0].length;
      forceMaxRows(model, 7);
      try {
        const out = await model.forward(fixture.inputIds, { outputAttentions: true, outputLogits: false });
        expect(vi.mocked((model as unknown as RunnerOpener).openRunner).mock.results[0].value.maxRows).toBe(fixture.inputIds.length * 7);
        for (let l = 0; l < L; l++) expect(maxAbs(out.attentions![l], want[l]), `layer ${l}`).toBeLessThan(tolerance);
        for (const [b, position] of [[0, 0], [1, 6], [0, 7], [1, T - 1], [0, 13]]) {
          const ids = fixture.inputIds[b];
          const row = await model.attentionRow(ids, position);
          expect(row.length).toBe(L * H * (position + 1));
          for (let l = 0; l < L; l++) {
            for (let h = 0; h < H; h++) {
              const o = ((b * H + h) * T + position) * T;
              const full = out.attentions![l].subarray(o, o + position + 1);
              const got = row.subarray((l * H + h) * (position + 1), (l * H + h + 1) * (position + 1));
              expect(maxAbs(got, full), `layer ${l} head ${h} position ${position}`).toBeLessThan(dtype === 'f32' ? 1e-6 : 1e-3);
            }
          }
        }
      } finally {
        vi.restoreAllMocks();
      }
    });
  }

  it('no attention work unless asked: no attentionWeights op is made nor dispatched', async () => {
    const { model, fixture } = models.get('tiny')!;
    const spy = vi.spyOn(model.kernels, 'attentionWeights');
    try {
      const out = await model.forward(fixture.inputIds, { outputHiddenStates: true });
      expect(out.attentions).toBeUndefined();
      await model.forward(fixture.inputIds, { outputAttentions: false });
      expect(spy).not.toHaveBeenCalled();
      await model.forward(fixture.inputIds, { outputAttentions: true, outputLogits: false });
      expect(spy).toHaveBeenCalledTimes(fixture.config.n_layer);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('attention weights: validation and the CPU reference', () => {
  let model: ImageGPT;
  const tiny = loadModelFixture('tiny');
  beforeAll(async () => {
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f32' });
  });
  afterAll(() => model?.dispose());

  it('the float64 reference model gives PyTorch\'s attentions (tiny-inv)', () => {
    const inv = loadModelFixture('tiny-inv');
    const ref = referenceForward(inv.config, inv.weights, inv.inputIds);
    attentionFixture('tiny-inv').forEach((want, l) => expect(maxAbs(ref.attentions[l], want)).toBeLessThan(1e-6));
  });

  it('a classifier checkpoint returns attentions too, beside the same logits', async () => {
    const cls = loadModelFixture('classifier');
    const m = await ImageGPT.fromPretrained({ config: cls.configJson, weights: cls.weightBytes }, { device: await getTestDevice(), dtype: 'f32' });
    try {
      const out = await m.forward(cls.inputIds, { outputAttentions: true });
      // The reference computes logits too: a zero lm_head stands in for the classifier's missing one.
      const { vocab_size: V, n_embd: E } = cls.config;
      const ref = referenceForward(cls.config, new Map(cls.weights).set('lm_head.weight', new Float32Array((V - 1) * E)), cls.inputIds);
      expect(out.hiddenStates).toBeUndefined();
      expect(out.attentions).toHaveLength(cls.config.n_layer);
      out.attentions!.forEach((a, l) => expect(maxAbs(a, ref.attentions[l])).toBeLessThan(1e-5));
      expect(maxAbs(out.logits, (await m.forward(cls.inputIds)).logits)).toBeLessThan(1e-5);
    } finally {
      m.dispose();
    }
  });

  it('refuses a non-boolean outputAttentions, and attentionRow positions outside the tokens', async () => {
    const ids = tiny.inputIds[0];
    expect((await failure(() => model.forward(tiny.inputIds, { outputAttentions: 'yes' } as never))).message).toMatch(
      /forward: outputAttentions must be true or false, got "yes"/,
    );
    for (const position of [-1, 64, 1.5, Number.NaN, '3']) {
      expect((await failure(() => model.attentionRow(ids, position as never))).message).toMatch(
        /attentionRow: position must be an integer in 0\.\.63 \(a token of inputIds\), got /,
      );
    }
    expect((await failure(() => model.attentionRow(tiny.inputIds as never, 0))).message).toMatch(/attentionRow/);
    expect((await failure(() => model.attentionRow([...ids, 3], 0))).message).toMatch(/attentionRow: 65 tokens per row exceeds n_positions \(64\)/);
    expect((await failure(() => model.attentionRow([1, 513], 0))).message).toMatch(/attentionRow\[0\]\[1\] = 513/);
  });
});
