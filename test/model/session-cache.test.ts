// Issue 19, item 6: generate() and complete() reuse one cached KV session per shape (batch, cache length) instead of
// allocating one per call. Same-shape calls make no GPU buffer after the first and give the tokens a fresh model
// gives; another shape (or any other session) frees the cached one; dispose frees it; an aborted run leaves it
// reusable, a failed one frees it; two calls at once never share it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createNodeDevice, getTestDevice, trackBuffers } from '../helpers/gpu';
import { loadModelFixture } from '../helpers/fixtures';
import { failure } from '../helpers/failure';
import { ImageGPT } from '../../src/model/imagegpt';
import { ImageGPTImageProcessor } from '../../src/processor/processor';

const tiny = loadModelFixture('tiny'); // n_positions 64 (8×8 tokens), n_embd 64, 2 layers
const image = Array.from({ length: 64 }, (_, i) => (i * 7) % 512);
const processor = new ImageGPTImageProcessor({ clusters: Array.from({ length: 512 }, (_, i) => [i / 512, 0, 0]), size: { height: 8, width: 8 } });
/** Labels of the buffers a generate run keeps beside its cached session (history, sampler params and shape, ring). */
const RUN_BUFFERS = ['history', 'prompt ends', 'sample params', 'sample shape', 'tokens staging 0', 'tokens staging 1', 'tokens staging 2'];

function loadTiny(device: GPUDevice): Promise<ImageGPT> {
  return ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype: 'f32' });
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('generate and complete reuse one cached session per shape', () => {
  let device: GPUDevice;
  let model: ImageGPT;
  /** A model that never reuses anything: each call is its first (what every call did before the cache). */
  let fresh: () => Promise<ImageGPT>;
  beforeAll(async () => {
    device = await getTestDevice();
    model = await loadTiny(device);
    fresh = () => loadTiny(device);
  });
  afterAll(() => model?.dispose());

  /** The call's result on a model of its own (disposed after). */
  async function onFreshModel<T>(call: (m: ImageGPT) => Promise<T>): Promise<T> {
    const m = await fresh();
    try {
      return await call(m);
    } finally {
      m.dispose();
    }
  }

  it('same-shape calls make no GPU buffer after the first and give the tokens a fresh model gives (generate, complete, ragged)', async () => {
    const gen = (seed: number) => model.generate({ batchSize: 2, maxNewTokens: 20, seed, topK: 40 });
    const first = await gen(1);
    expect(model.memory().cachedSessionBytes).toBeGreaterThan(0);
    expect(model.memory().sessionBytes).toBe(model.memory().cachedSessionBytes);
    const tracker = trackBuffers(device);
    try {
      const other = await gen(2);
      const again = await gen(1);
      expect(tracker.created()).toBe(0);
      expect(Array.from(again)).toEqual(Array.from(first));
      expect(Array.from(other)).not.toEqual(Array.from(first));
      expect(Array.from(other)).toEqual(Array.from(await onFreshModel((m) => m.generate({ batchSize: 2, maxNewTokens: 20, seed: 2, topK: 40 }))));

      // complete with kept rows that differ (a key mask and position ids) and then swapped: the same shape, so the
      // same session; the mask of the call before must not leak into the next.
      const complete = (m: ImageGPT, keepRows: number[], seed: number) => m.complete(image, { processor, keepRows, seed });
      await complete(model, [2, 5], 3);
      const before = tracker.created();
      const swapped = await complete(model, [5, 2], 4);
      expect(tracker.created()).toBe(before);
      const expected = await onFreshModel((m) => complete(m, [5, 2], 4));
      expect(swapped.map((c) => Array.from(c.tokens))).toEqual(expected.map((c) => Array.from(c.tokens)));
      // Prompts of one length (no mask) on the session a ragged prompt of the same cache length just masked.
      const ragged = { prompt: [image.slice(0, 10), image.slice(0, 2)], maxNewTokens: 5, seed: 6 };
      const even = { prompt: [image.slice(0, 10), image.slice(20, 30)], maxNewTokens: 5, seed: 6 };
      await model.generate(ragged);
      const made = tracker.created();
      const plain = await model.generate(even);
      expect(tracker.created()).toBe(made);
      expect(Array.from(plain)).toEqual(Array.from(await onFreshModel((m) => m.generate(even))));
    } finally {
      tracker.restore();
    }
  });

  it('another shape frees the cached session before making its own; so does any other session the model makes', async () => {
    const tracker = trackBuffers(device);
    try {
      await model.generate({ batchSize: 3, maxNewTokens: 9, seed: 1 });
      const kept = new Set(tracker.live);
      // The cached session's buffers (its bytes are memory()'s) and the run buffers kept with it.
      const sessionPart = [...kept].filter((b) => !RUN_BUFFERS.includes(b.label));
      expect([...kept].filter((b) => RUN_BUFFERS.includes(b.label)).map((b) => b.label).sort()).toEqual([...RUN_BUFFERS].sort());
      expect(sessionPart.reduce((n, b) => n + b.size, 0)).toBe(model.memory().cachedSessionBytes);

      await model.generate({ batchSize: 2, maxNewTokens: 9, seed: 1 });
      expect([...kept].filter((b) => tracker.live.has(b))).toEqual([]);
      expect(model.memory().sessionBytes).toBe(model.memory().cachedSessionBytes);

      // A session the caller makes (or forward, features…) frees the idle cached one first.
      const cachedBefore = new Set(tracker.live);
      const s = model.createSession(1);
      expect([...cachedBefore].filter((b) => tracker.live.has(b))).toEqual([]);
      expect(model.memory().cachedSessionBytes).toBe(0);
      expect(model.memory().sessionBytes).toBe(s.runner.gpuBytes);
      s.dispose();
      expect(model.memory().sessionBytes).toBe(0);
    } finally {
      tracker.restore();
    }
  });

  it('an aborted run leaves the session reusable (correct tokens after); a failed run frees it', async () => {
    const run = (seed: number, extra: Parameters<ImageGPT['generate']>[0] = {}) => model.generate({ batchSize: 2, seed, ...extra });
    const reference = await run(3);
    const ctrl = new AbortController();
    let rows = 0;
    const tracker = trackBuffers(device);
    try {
      const aborted = run(3, { signal: ctrl.signal, onRow: () => void (++rows === 2 && ctrl.abort()) });
      expect((await failure(() => aborted)).message).toBe('generate: aborted');
      expect(rows).toBeLessThan(8);
      expect(model.memory().cachedSessionBytes).toBeGreaterThan(0);
      const after = await run(3);
      expect(Array.from(after)).toEqual(Array.from(reference));
      // The session was reused: only the run buffers (dropped at the abort: maps may still have been pending) were made.
      expect([...tracker.live].map((b) => b.label).sort()).toEqual([...RUN_BUFFERS].sort());
    } finally {
      tracker.restore();
    }
    // A callback that throws is a failure: the session is freed, not kept.
    const boom = new Error('onRow says no');
    expect(await failure(() => run(4, { onRow: () => { throw boom; } }))).toBe(boom);
    expect(model.memory().cachedSessionBytes).toBe(0);
    expect(model.memory().sessionBytes).toBe(0);
    expect(Array.from(await run(3))).toEqual(Array.from(reference));
  });

  it('two generate() calls at once each get their own session and give the tokens they give one after the other', async () => {
    const a = { batchSize: 2, maxNewTokens: 24, seed: 11 };
    const b = { batchSize: 2, maxNewTokens: 24, seed: 12 };
    const sequential = [await model.generate(a), await model.generate(b)];
    let bytesDuring = 0;
    const together = await Promise.all([
      model.generate({ ...a, onRow: () => void (bytesDuring = Math.max(bytesDuring, model.memory().sessionBytes)) }),
      model.generate(b),
    ]);
    expect(together.map((t) => Array.from(t))).toEqual(sequential.map((t) => Array.from(t)));
    // One session each while both ran; one kept after.
    const one = model.memory().cachedSessionBytes;
    expect(bytesDuring).toBe(2 * one);
    expect(model.memory().sessionBytes).toBe(one);
    // complete and generate of different shapes at once, against the same calls one after the other.
    const c = { processor, keepRows: 3, samples: 2, seed: 5 };
    const seq2 = [(await model.complete(image, c)).map((x) => Array.from(x.tokens)), Array.from(await model.generate(a))];
    const [done, gen] = await Promise.all([model.complete(image, c), model.generate(a)]);
    expect([done.map((x) => Array.from(x.tokens)), Array.from(gen)]).toEqual(seq2);
  });
});

describe('dispose frees the cached session', () => {
  it('after calls of several shapes, dispose() leaves no buffer of the model live and memory() at 0', async () => {
    const { device } = await createNodeDevice();
    const buffers = trackBuffers(device);
    const model = await loadTiny(device);
    await model.generate({ batchSize: 2, maxNewTokens: 5, seed: 1 });
    await model.complete(image, { processor, keepRows: [1, 4], seed: 2 });
    expect(model.memory().cachedSessionBytes).toBeGreaterThan(0);
    model.dispose();
    await settle(0); // dispose() frees once the calls' bookkeeping has settled (a microtask after they resolve)
    expect(model.memory().cachedSessionBytes).toBe(0);
    expect(model.memory().sessionBytes).toBe(0);
    await device.queue.onSubmittedWorkDone();
    await settle(50);
    expect([...buffers.live].map((b) => b.label)).toEqual([]);
    buffers.restore();
    device.destroy();
  }, 60_000);
});
