// Issue 18, items 8, 9 and 10: dispose() while calls are in flight, two prefills at once on one session, and what a
// model leaves on a device after dispose(). Each call overtaken by dispose() must reject with the library's own
// Error, no GPU error may reach the caller's device, and nothing of the model may stay attached to that device.
import { describe, it, expect, vi, afterEach } from 'vitest';
import { createNodeDevice, testGpu, trackBuffers } from '../helpers/gpu';
import { loadModelFixture } from '../helpers/fixtures';
import { failure } from '../helpers/failure';
import { ImageGPT } from '../../src/model/imagegpt';
import { ImageGPTImageProcessor } from '../../src/processor/processor';

const tiny = loadModelFixture('tiny'); // n_positions 64 (8×8 tokens), n_embd 64, 2 layers
const SOS = 512;
const image = Array.from({ length: 64 }, (_, i) => (i * 7) % 512);
const processor = new ImageGPTImageProcessor({ clusters: Array.from({ length: 512 }, (_, i) => [i / 512, 0, 0]), size: { height: 8, width: 8 } });

function loadTiny(device?: GPUDevice): Promise<ImageGPT> {
  return ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { ...(device ? { device } : {}), dtype: 'f32' });
}

/** Every uncaptured GPU error on `device`, through both ways a caller can listen. */
function collectGpuErrors(device: GPUDevice): string[] {
  const errors: string[] = [];
  device.addEventListener('uncapturederror', (e) => errors.push((e as GPUUncapturedErrorEvent).error.message));
  device.onuncapturederror = (e) => errors.push(`(onuncapturederror) ${e.error.message}`);
  return errors;
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('dispose() while calls are in flight (item 8)', () => {
  it('every call started and then overtaken by dispose() rejects with "disposed during <call>()"; no GPU error reaches the device; all buffers are freed', async () => {
    const { device } = await createNodeDevice();
    const errors = collectGpuErrors(device);
    const buffers = trackBuffers(device);
    const warm = await loadTiny(device);
    await warm.generate({ batchSize: 2, maxNewTokens: 2, seed: 1 }); // pipelines compiled, so calls reach the GPU at once
    warm.dispose();
    const ids = [[SOS, 1, 2, 3, 4, 5, 6, 7], [SOS, 8, 9, 10, 11, 12, 13, 14]];
    const calls: [string, (m: ImageGPT) => Promise<unknown>][] = [
      ['forward', (m) => m.forward(ids, { outputHiddenStates: true, labels: ids })],
      ['features', (m) => m.features(ids, { layer: 1 })],
      ['features', (m) => m.features(Array.from({ length: 6 }, () => ids[0]), { layers: [1, 2], batchSize: 1 })],
      ['bitsPerToken', (m) => m.bitsPerToken([image, image])],
      ['attentionRow', (m) => m.attentionRow(ids[0], 5)],
      ['generate', (m) => m.generate({ batchSize: 2, seed: 3 })],
      ['complete', (m) => m.complete(image, { processor, keepRows: 2, samples: 2, seed: 4 })],
    ];
    for (const [what, call] of calls) {
      // Right after the call starts (its first await), and on the next task, once it is waiting on the GPU.
      for (const delay of [-1, 0]) {
        const model = await loadTiny(device);
        const run = call(model);
        if (delay < 0) model.dispose();
        else setTimeout(() => model.dispose(), delay);
        const e = await failure(() => run);
        expect(e.message, `${what}, dispose after ${delay} ms`).toBe(`ImageGPT: disposed during ${what}()`);
        await expect(call(model)).rejects.toThrow(/^ImageGPT: used after dispose\(\)$/);
      }
    }
    // A classification checkpoint's classify (and the forward that runs it).
    const classifier = loadModelFixture('classifier');
    for (const [what, call] of [['classify', (m: ImageGPT) => m.classify(ids)], ['forward', (m: ImageGPT) => m.forward(ids, { labels: [0, 1] })]] as const) {
      const model = await ImageGPT.fromPretrained({ config: classifier.configJson, weights: classifier.weightBytes }, { device, dtype: 'f32' });
      const run = call(model);
      model.dispose();
      expect((await failure(() => run)).message).toBe(`ImageGPT: disposed during ${what}()`);
    }
    // The caller's own sessions: prefill and step in flight.
    for (const which of ['prefill', 'step'] as const) {
      for (const disposeModel of [false, true]) {
        const model = await loadTiny(device);
        const session = model.createSession(2);
        if (which === 'step') await session.prefill(ids);
        const run = which === 'prefill' ? session.prefill(ids) : session.step([1, 2]);
        if (disposeModel) model.dispose();
        else session.dispose();
        expect((await failure(() => run)).message, `${which}, ${disposeModel ? 'model' : 'session'} disposed`).toBe(`ImageGPTSession: disposed during ${which}()`);
        model.dispose();
      }
    }
    await device.queue.onSubmittedWorkDone();
    await settle(100);
    expect(errors).toEqual([]);
    expect(buffers.live.size).toBe(0);
    buffers.restore();
    device.destroy();
  }, 240_000);

  it('generate disposed from its own onRow: the run stops within a row, rejects with the library Error, nothing escapes', async () => {
    const { device } = await createNodeDevice();
    const errors = collectGpuErrors(device);
    const model = await loadTiny(device);
    let rows = 0;
    const run = model.generate({ batchSize: 2, seed: 5, onRow: () => { if (rows++ === 1) model.dispose(); } });
    expect((await failure(() => run)).message).toBe('ImageGPT: disposed during generate()');
    expect(rows).toBeLessThan(8);
    await device.queue.onSubmittedWorkDone();
    await settle(100);
    expect(errors).toEqual([]);
    device.destroy();
  }, 60_000);
});

describe('two prefills at once on one session (item 9)', () => {
  it('run one after the other: the same logits and cache as awaiting each in turn', async () => {
    const { device } = await createNodeDevice();
    const model = await loadTiny(device);
    const a = [[SOS, 1, 2, 3], [SOS, 4, 5, 6]];
    const b = [[7, 8], [9, 10]];
    const together = model.createSession(2);
    const [la, lb] = await Promise.all([together.prefill(a), together.prefill(b)]);
    const step = await together.step([11, 12]);
    const apart = model.createSession(2);
    expect(Array.from(la)).toEqual(Array.from(await apart.prefill(a)));
    expect(Array.from(lb)).toEqual(Array.from(await apart.prefill(b)));
    expect(Array.from(step)).toEqual(Array.from(await apart.step([11, 12])));
    expect(together.length).toBe(7);
    // reset() under a running call would move its cache position: refused until the call has settled.
    const running = together.step([1, 2]);
    expect(() => together.reset()).toThrow(/^reset: a prefill or step of this session is still running; await it before reset\(\)$/);
    await running;
    together.reset();
    expect(together.length).toBe(0);
    // A queued prefill that no longer fits fails on its own, naming the cache; the one before it is unharmed.
    const small = model.createSession(1, { maxLength: 6 });
    const results = await Promise.allSettled([small.prefill([[SOS, 1, 2, 3]]), small.prefill([[4, 5, 6]])]);
    expect(results[0].status).toBe('fulfilled');
    expect(((results[1] as PromiseRejectedResult).reason as Error).message).toMatch(/^session: 4 cached \+ 3 new tokens exceeds the session's maxLength 6$/);
    model.dispose();
    device.destroy();
  }, 60_000);
});

describe('what a disposed model leaves on the device (item 10)', () => {
  it('200 load/dispose cycles on one caller device: one shared loss handler at most, no event listener, the device stays usable', async () => {
    const { device } = await createNodeDevice();
    // Count the reactions attached to device.lost and the listeners added and removed.
    const lost = device.lost;
    let lostHandlers = 0;
    const then = lost.then.bind(lost);
    Object.defineProperty(lost, 'then', {
      value: (...args: Parameters<typeof then>) => {
        lostHandlers++;
        return then(...args);
      },
    });
    Object.defineProperty(device, 'lost', { get: () => lost });
    let listeners = 0;
    const add = device.addEventListener.bind(device);
    const remove = device.removeEventListener.bind(device);
    device.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    }) as typeof device.addEventListener;
    device.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      remove(...args);
    }) as typeof device.removeEventListener;

    for (let i = 0; i < 200; i++) {
      const model = await loadTiny(device);
      if (i % 50 === 0) {
        // A failure not of the library's making waits briefly for a loss to be reported: without attaching to device.lost.
        const thrown = new TypeError('a callback bug');
        expect(await failure(() => model.generate({ maxNewTokens: 8, seed: 1, onRow: () => { throw thrown; } }))).toBe(thrown);
        expect(model.isLost).toBe(false);
      }
      model.dispose();
    }
    expect(lostHandlers).toBeLessThanOrEqual(1);
    expect(listeners).toBe(0);
    expect(device.onuncapturederror).toBeNull();
    // The caller's device is still theirs and still works; a model made on it still learns of its loss.
    const model = await loadTiny(device);
    expect((await model.forward([[SOS, 1, 2]])).logits.length).toBe(3 * 512);
    device.destroy();
    expect((await model.lost).reason).toBe('destroyed');
    expect(model.isLost).toBe(true);
    model.dispose();
  }, 240_000);

  it('a device fromPretrained requested itself is destroyed by dispose(); a device the caller passed is not', async () => {
    vi.stubGlobal('navigator', { gpu: testGpu() });
    const own = await loadTiny();
    expect((await own.forward([[SOS, 1, 2]])).logits.length).toBe(3 * 512);
    own.dispose();
    const info = await Promise.race([own.device.lost, settle(5000).then(() => null)]);
    expect(info?.reason).toBe('destroyed');

    const { device } = await createNodeDevice();
    const theirs = await loadTiny(device);
    theirs.dispose();
    const after = await Promise.race([device.lost, settle(300).then(() => 'alive')]);
    expect(after).toBe('alive');
    device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }).destroy();
    device.destroy();
  }, 120_000); // two new devices: each load compiles the model's pipelines (model/precompile.ts)
});
