// The `tuning` load option: the adapter's defaults with the caller's fields over them (model.tuning), the kernels
// really run with it, and bad values are refused before anything is fetched (names, types) or uploaded (limits).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadModelFixture, relError } from '../helpers/fixtures';
import { ImageGPT } from '../../src/model/imagegpt';
import { tuningFor, type KernelTuning } from '../../src/gpu/tuning';

const tiny = loadModelFixture('tiny');
const source = { config: tiny.configJson, weights: tiny.weightBytes };

/** A fetch serving the tiny model at /m that records every URL asked for. */
function recordingFetch(asked: string[]): typeof fetch {
  return (async (u: string) => {
    asked.push(String(u));
    if (u === '/m/config.json') return new Response(JSON.stringify(tiny.configJson));
    if (u === '/m/model.safetensors') return new Response(tiny.weightBytes.slice());
    return new Response('not found', { status: 404 });
  }) as typeof fetch;
}

describe('tuning as a load option', () => {
  let device: GPUDevice;
  let plain: ImageGPT;
  beforeAll(async () => {
    device = await getTestDevice();
    plain = await ImageGPT.fromPretrained(source, { device, dtype: 'f32' });
  });
  afterAll(() => plain?.dispose());

  it('without it: the adapter tuning; with it: those fields over the adapter tuning, readable as model.tuning', async () => {
    expect(plain.tuning).toEqual(tuningFor(device.adapterInfo));
    const tuning: Partial<KernelTuning> = { decodeMaxRows: 0, attentionMaxSplits: 1, norm: 'workgroup', normThreads: 32 };
    const model = await ImageGPT.fromPretrained(source, { device, dtype: 'f32', tuning });
    try {
      expect(model.tuning).toEqual({ ...tuningFor(device.adapterInfo), ...tuning });
      // The kernels run with it: sessions and the full forward give the fixture's numbers on the other paths too.
      const { logits } = await model.forward(tiny.inputIds);
      expect(relError(logits, tiny.expected.get('logits')!)).toBeLessThan(1e-4);
      const a = plain.createSession(2);
      const b = model.createSession(2);
      try {
        const prefix = tiny.inputIds.map((r) => r.slice(0, 9));
        expect(relError(await b.prefill(prefix), await a.prefill(prefix))).toBeLessThan(1e-5);
        const next = tiny.inputIds.map((r) => r[9]);
        expect(relError(await b.step(next), await a.step(next))).toBeLessThan(1e-5);
      } finally {
        a.dispose();
        b.dispose();
      }
    } finally {
      model.dispose();
    }
  });

  it('unknown fields, wrong types and unknown load options are refused before anything is fetched, naming them', async () => {
    const asked: string[] = [];
    const load = (options: Record<string, unknown>) => ImageGPT.fromPretrained('/m', { device, cache: false, fetch: recordingFetch(asked), ...options });
    const known = Object.keys(tuningFor(device.adapterInfo));
    const unknown = await load({ tuning: { normThread: 64 } }).catch((e: Error) => e.message);
    expect(unknown).toBe(`ImageGPT.fromPretrained: tuning: unknown field "normThread"; known fields: ${known.join(', ')}`);
    const cases: [Record<string, unknown>, string][] = [
      [{ tuning: { norm: 'warp' } }, "ImageGPT.fromPretrained: tuning.norm must be one of 'workgroup', 'thread', got \"warp\""],
      [{ tuning: { prefill: 1 } }, "ImageGPT.fromPretrained: tuning.prefill must be one of 'registers', 'shared', got 1"],
      [{ tuning: { registerThreads: [8] } }, 'ImageGPT.fromPretrained: tuning.registerThreads must be a pair [x, y] of positive integers, got [8]'],
      [{ tuning: { sharedThreads: [8, 0] } }, 'ImageGPT.fromPretrained: tuning.sharedThreads must be a pair [x, y] of positive integers, got [8, 0]'],
      [{ tuning: { normThreads: 1.5 } }, 'ImageGPT.fromPretrained: tuning.normThreads must be an integer ≥ 1, got 1.5'],
      [{ tuning: { decodeMaxRows: -1 } }, 'ImageGPT.fromPretrained: tuning.decodeMaxRows must be an integer ≥ 0, got -1'],
      [{ tuning: { subgroups: 'no' } }, "ImageGPT.fromPretrained: tuning.subgroups must be true or false, got \"no\""],
      [{ tuning: [1, 2] }, 'ImageGPT.fromPretrained: tuning must be an object of KernelTuning fields, got [1, 2]'],
      [{ tunning: {} }, "ImageGPT.fromPretrained: unknown option \"tunning\"; known options: host, revision, cache, fetch, signal, onProgress, onWarning, device, dtype, tuning"],
    ];
    for (const [options, message] of cases) await expect(load(options), message).rejects.toThrow(message);
    expect(asked).toEqual([]);
  });

  it("a tuning the device cannot run is refused after config.json, before any weight is fetched or uploaded", async () => {
    const asked: string[] = [];
    const load = (tuning: Partial<KernelTuning>) =>
      ImageGPT.fromPretrained('/m', { device, cache: false, fetch: recordingFetch(asked), tuning });
    await expect(load({ normThreads: 48 })).rejects.toThrow('ImageGPT.fromPretrained: tuning: normThreads 48 must be a power of two');
    const most = device.limits.maxComputeInvocationsPerWorkgroup;
    await expect(load({ registerThreads: [64, 64] })).rejects.toThrow(
      `ImageGPT.fromPretrained: tuning: registerThreads = 4096 threads, the device allows 1…${most}`,
    );
    expect(asked).toEqual(['/m/config.json', '/m/config.json']);
    // And the same source loads with a tuning that fits.
    const model = await load({ normThreads: 16 });
    expect(model.tuning.normThreads).toBe(16);
    expect(asked.slice(2)).toEqual(['/m/config.json', '/m/model.safetensors']);
    model.dispose();
  });
});
