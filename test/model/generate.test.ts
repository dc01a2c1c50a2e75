import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTestDevice, trackBuffers } from '../helpers/gpu';
import { loadModelFixture } from '../helpers/fixtures';
import { ImageGPT } from '../../src/model/imagegpt';
import type { GenerateStats } from '../../src/model/tasks/generate-plan';

const tiny = loadModelFixture('tiny'); // n_positions 64: an 8×8 token image
const SOS = 512;
const V1 = 512;

function argmaxRows(logits: Float32Array, T: number, b: number, t: number): number {
  const row = logits.subarray((b * T + t) * V1, (b * T + t + 1) * V1);
  let best = 0;
  for (let v = 1; v < V1; v++) if (row[v] > row[best]) best = v;
  return best;
}

describe('generate on the GPU (tiny model)', () => {
  let model: ImageGPT;
  beforeAll(async () => {
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f32' });
  });
  afterAll(() => model?.dispose());

  it('greedy = argmax of the full forward at every step (SOS first, then the prompt)', async () => {
    const prompt = [tiny.inputIds[0].slice(1, 12), tiny.inputIds[1].slice(1, 12)].map((r) => r.map((t) => t % 512));
    const stats: GenerateStats = { submits: 0, readbacks: 0, steps: 0 };
    const out = await model.generate({ prompt, temperature: 0, maxNewTokens: 30, stats });
    const total = 11 + 30;
    expect(out.length).toBe(2 * total);
    const rows = [0, 1].map((b) => Array.from(out.subarray(b * total, (b + 1) * total)));
    for (let b = 0; b < 2; b++) expect(rows[b].slice(0, 11)).toEqual(prompt[b]);
    const { logits } = await model.forward(rows.map((r) => [SOS, ...r.slice(0, total - 1)]));
    for (let b = 0; b < 2; b++) {
      for (let j = 11; j < total; j++) expect(rows[b][j]).toBe(argmaxRows(logits, total, b, j));
    }
    // One submit per token (plus one per extra prefill chunk: none here), one readback per image row touched.
    expect(stats.steps).toBe(30);
    expect(stats.submits).toBe(30);
    expect(stats.readbacks).toBeLessThanOrEqual(Math.ceil(30 / 8) + 1);
  });

  it('nothing is made per step or per row: 5 tokens and 40 make the same buffers and bind groups; only the cached session stays, and the next shape frees it', async () => {
    const device = model.device;
    const made = async (maxNewTokens: number) => {
      const tracker = trackBuffers(device);
      const createBindGroup = device.createBindGroup;
      let bindGroups = 0;
      device.createBindGroup = (d) => (bindGroups++, createBindGroup.call(device, d));
      const stats: GenerateStats = { submits: 0, readbacks: 0, steps: 0 };
      try {
        await model.generate({ batchSize: 2, temperature: 0, maxNewTokens, stats });
        // What stays is the session kept for the next call of this shape (its bytes are all the model's session
        // bytes) and the run buffers kept with it; nothing else.
        const run = ['history', 'prompt ends', 'sample params', 'sample shape', 'tokens staging 0', 'tokens staging 1', 'tokens staging 2'];
        const sessionBuffers = [...tracker.live].filter((b) => !run.includes(b.label));
        expect([...tracker.live].filter((b) => run.includes(b.label)).length).toBe(run.length);
        expect(sessionBuffers.reduce((n, b) => n + b.size, 0)).toBe(model.memory().sessionBytes);
        expect(model.memory().cachedSessionBytes).toBe(model.memory().sessionBytes);
        return { buffers: tracker.created(), bindGroups, readbacks: stats.readbacks, submits: stats.submits, live: tracker.live };
      } finally {
        tracker.restore();
        device.createBindGroup = createBindGroup;
      }
    };
    await model.generate({ batchSize: 2, temperature: 0, maxNewTokens: 1 }); // the model's own small shared buffers, made once
    const few = await made(5);
    const many = await made(40);
    expect(many.buffers).toBe(few.buffers);
    expect(many.bindGroups).toBe(few.bindGroups);
    // The 40-token call (another cache length) freed everything the 5-token call kept.
    expect([...few.live].map((b) => `${b.label} ${b.size}`)).toEqual([]);
    // One submit per token, one readback per image row touched (8 tokens a row: 40 tokens are 5 rows).
    expect([few.submits, many.submits]).toEqual([5, 40]);
    expect([few.readbacks, many.readbacks]).toEqual([1, 5]);
  });

  it('sos: false feeds the prompt as given', async () => {
    const prompt = [[SOS, 5, 6, 7]];
    const out = await model.generate({ prompt, sos: false, temperature: 0, maxNewTokens: 10 });
    const row = Array.from(out);
    const { logits } = await model.forward([row.slice(0, 13)]);
    for (let j = 4; j < 14; j++) expect(row[j]).toBe(argmaxRows(logits, 13, 0, j - 1));
  });

  it('unconditional: fills the image; seeded runs repeat, other seeds differ; rows stream in order', async () => {
    const rowsSeen: number[] = [];
    const steps: number[] = [];
    const a = await model.generate({
      batchSize: 3,
      seed: 7,
      topK: 40,
      onRow: ({ row, tokens }) => {
        rowsSeen.push(row);
        expect(tokens.length).toBe(3 * 8);
      },
      onTokens: ({ step, tokens }) => {
        steps.push(step);
        expect(tokens.length).toBe(3);
      },
    });
    expect(a.length).toBe(3 * 64);
    expect(rowsSeen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(steps).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(Math.max(...a)).toBeLessThan(512);
    const b = await model.generate({ batchSize: 3, seed: 7, topK: 40 });
    expect(Array.from(b)).toEqual(Array.from(a));
    const c = await model.generate({ batchSize: 3, seed: 8, topK: 40 });
    expect(Array.from(c)).not.toEqual(Array.from(a));
    // The samples of one batch differ from each other.
    expect(Array.from(a.subarray(0, 64))).not.toEqual(Array.from(a.subarray(64, 128)));
  });

  it('prefill in several chunks gives the same greedy tokens', async () => {
    const prompt = [tiny.inputIds[0].slice(1, 40).map((t) => t % 512)];
    const one = await model.generate({ prompt, temperature: 0, maxNewTokens: 5 });
    // A session with room for only 7 rows at a time: 40 prompt positions in 6 chunks.
    const s = model.createSession(1, { maxRows: 7 });
    const logits = await s.prefill([[SOS, ...prompt[0]]]);
    s.dispose();
    let best = 0;
    for (let v = 1; v < V1; v++) if (logits[v] > logits[best]) best = v;
    expect(one[39]).toBe(best);
  });

  it('completion keeps the given rows; abort stops promptly and the model stays usable', async () => {
    const prompt = [tiny.inputIds[1].slice(1, 25).map((t) => t % 512)];
    const out = await model.generate({ prompt: [prompt[0], prompt[0]], seed: 1 });
    expect(Array.from(out.subarray(0, 24))).toEqual(prompt[0]);
    expect(Array.from(out.subarray(64, 88))).toEqual(prompt[0]);

    const ctrl = new AbortController();
    let rows = 0;
    const stats: GenerateStats = { submits: 0, readbacks: 0, steps: 0 };
    await expect(
      model.generate({
        batchSize: 2,
        seed: 3,
        signal: ctrl.signal,
        stats,
        onRow: () => {
          if (++rows === 2) ctrl.abort();
        },
      }),
    ).rejects.toThrow(/aborted/);
    expect(stats.steps).toBeLessThan(64);
    const again = await model.generate({ batchSize: 1, seed: 3, maxNewTokens: 8 });
    expect(again.length).toBe(8);
    // Nothing held but the one session kept for the next call of that shape.
    expect(model.memory().cachedSessionBytes).toBeGreaterThan(0);
    expect(model.memory().sessionBytes).toBe(model.memory().cachedSessionBytes);
  });

  it("topP: 0 is HF's TopPLogitsWarper at 0 (it keeps at least one token): the argmax, as greedy and as topK 1", async () => {
    const prompt = [tiny.inputIds[0].slice(1, 9), tiny.inputIds[1].slice(1, 9)];
    const greedy = await model.generate({ prompt, temperature: 0 });
    for (const options of [{ topP: 0, seed: 1 }, { topP: 0, seed: 2, temperature: 1.5, topK: 0 }, { topK: 1, seed: 3 }]) {
      expect(Array.from(await model.generate({ prompt, ...options })), JSON.stringify(options)).toEqual(Array.from(greedy));
    }
    // The same tokens as the argmax of the full forward at the first new position.
    const { logits } = await model.forward([[SOS, ...prompt[0]]]);
    expect(greedy[8]).toBe(argmaxRows(logits, 9, 0, 8));
  });

  it('nothing to generate is an error, not the prompt given back', async () => {
    await expect(model.generate({ maxNewTokens: 0 })).rejects.toThrow(/^generate: maxNewTokens must be an integer ≥ 1 \(the tokens to generate\), got 0$/);
    await expect(model.generate({ prompt: [new Array(64).fill(1)] })).rejects.toThrow(
      /^generate: every prompt row already holds n_positions \(64\) tokens, so there is nothing left to generate/,
    );
    // A prompt row that fills its image beside a shorter one is fine: the shorter row still has tokens to make.
    const out = await model.generate({ prompt: [new Array(64).fill(1), new Array(63).fill(2)], temperature: 0 });
    // Each row is its image (no padding): the full row as given, the shorter one with its last token made.
    expect(out.length).toBe(2 * 64);
    expect(Array.from(out.subarray(0, 64))).toEqual(new Array(64).fill(1));
    const [alone] = await Promise.all([model.generate({ prompt: [new Array(63).fill(2)], temperature: 0 })]);
    expect(Array.from(out.subarray(64))).toEqual(Array.from(alone));
  });

  it('bad options get clear errors before any GPU work', async () => {
    await expect(model.generate({ topK: -1 })).rejects.toThrow(/topK/);
    await expect(model.generate({ temperature: -0.5 })).rejects.toThrow(/temperature/);
    await expect(model.generate({ temperature: NaN })).rejects.toThrow(/temperature/);
    await expect(model.generate({ batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(model.generate({ prompt: [new Array(65).fill(1)] })).rejects.toThrow(/n_positions/);
    await expect(model.generate({ prompt: [[1, 2], 3 as unknown as number[]] })).rejects.toThrow(/prompt\[1\] must be an array/);
    await expect(model.generate({ prompt: [[1, 600]] })).rejects.toThrow(/600/);
    await expect(model.generate({ prompt: [[1, 2]], maxNewTokens: 63 })).rejects.toThrow(/exceeds n_positions/);
    await expect(model.generate({ batchSize: 2, prompt: [[1]] })).rejects.toThrow(/does not match/);
  });
});
