// Issue 12: the runtime's failure paths — device limits, sizes, leaks, device loss, option checks, no
// silent clamping. Each case checks the Error (a plain Error naming the problem) and what is left behind.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createNodeDevice, getTestDevice, testGpu } from '../helpers/gpu';
import { loadModelFixture } from '../helpers/fixtures';
import { ImageGPT } from '../../src/model/imagegpt';
import { ImageGPTError, errorCode } from '../../src/errors';
import { parseImageGPTConfig } from '../../src/model/config';
import { DEFAULT_BATCH_SIZE, largestBatchThatFits, modelLimitNeeds, sessionSizes } from '../../src/model/limits';
import { ImageGPTImageProcessor } from '../../src/processor/processor';
import { LinearProbe } from '../../src/probe/index';

// imagegpt-large's shapes (HF config): 1536 wide, 48 layers, 16 heads, 1024 positions.
const large = parseImageGPTConfig({ n_embd: 1536, n_layer: 48, n_head: 16 });
const MiB = 2 ** 20;
const tiny = loadModelFixture('tiny'); // n_positions 64 (8×8 tokens), n_embd 64, 2 layers
const SOS = 512;

/**
 * The Error a call throws or rejects with; fails the test unless it is the library's ImageGPTError with a code (not a
 * TypeError from deep inside …), or a plain Error the caller's own callback threw (passed through as it is).
 */
async function failure(call: () => unknown): Promise<Error> {
  let caught: unknown = null;
  try {
    await call();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected the call to fail').toBeInstanceOf(Error);
  const name = (caught as Error).name;
  if (name !== 'Error') {
    expect(caught, `${name}: ${(caught as Error).message}`).toBeInstanceOf(ImageGPTError);
    expect(errorCode(caught)).toBeDefined();
  }
  return caught as Error;
}

function loadTiny(device: GPUDevice): Promise<ImageGPT> {
  return ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype: 'f32' });
}

describe('device limits for the library defaults (kind 6)', () => {
  it('imagegpt-large at the default batch needs more than 128 MiB per binding; the need is the KV cache of one layer', () => {
    const need = modelLimitNeeds(large, { batchSize: DEFAULT_BATCH_SIZE, maxLength: 1024 });
    // K of one layer: 32 sequences × 1024 positions × 1536 × 4 bytes = 192 MiB.
    expect(need.maxStorageBufferBindingSize).toBe(32 * 1024 * 1536 * 4);
    expect(need.maxBufferSize).toBeGreaterThanOrEqual(need.maxStorageBufferBindingSize);
    expect(need.maxStorageBufferBindingSize).toBeGreaterThan(128 * MiB);
    expect(sessionSizes(large, { batchSize: 32, maxLength: 1024 }).kv).toBe(192 * MiB);
  });

  it('largest batch that fits: 21 at 128 MiB (6 MiB of KV per sequence per layer), 170 at 1 GiB, 0 when the weights do not fit', () => {
    expect(largestBatchThatFits(large, { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB }, 1024)).toBe(21);
    expect(largestBatchThatFits(large, { maxBufferSize: 1024 * MiB, maxStorageBufferBindingSize: 1024 * MiB }, 1024)).toBe(170);
    expect(largestBatchThatFits(large, { maxBufferSize: MiB, maxStorageBufferBindingSize: MiB }, 1024)).toBe(0);
  });

  describe('on a device with WebGPU default limits (128 MiB per binding)', () => {
    let device: GPUDevice;
    let model: ImageGPT;
    beforeAll(async () => {
      const adapter = await testGpu().requestAdapter();
      device = await adapter!.requestDevice();
      model = await loadTiny(device);
    });
    afterAll(() => {
      model?.dispose();
      device?.destroy();
    });

    it('the tiny model fits 8192 sequences of 64 tokens (16 KiB of K per sequence per layer)', () => {
      expect(device.limits.maxStorageBufferBindingSize).toBe(128 * MiB);
      expect(largestBatchThatFits(model.config, device.limits, 64, { dtype: 'f32' })).toBe(8192);
    });

    it('createSession, generate, features and complete over the limit fail before allocating, naming the limit, the bytes and the batch that fits', async () => {
      const before = model.memory().sessionBytes;
      // 9000 × 64 positions × 64 × 4 bytes of K per layer; 8192 × 16 KiB = 128 MiB fits.
      const message = /batch 9000 × maxLength 64 needs 147456000 bytes for kCache.*maxStorageBufferBindingSize is 134217728; the largest batch that fits at maxLength 64 is 8192/;
      expect((await failure(() => model.createSession(9000))).message).toMatch(/^createSession\(9000\): /);
      expect((await failure(() => model.createSession(9000))).message).toMatch(message);
      // generate's cache holds SOS and every new token but the last: 64 positions for a whole image, 63 for 63 new tokens.
      expect((await failure(() => model.generate({ batchSize: 9000 }))).message).toMatch(/^generate: /);
      expect((await failure(() => model.generate({ batchSize: 9000 }))).message).toMatch(message);
      expect((await failure(() => model.generate({ batchSize: 9000, maxNewTokens: 63 }))).message).toMatch(/maxLength 63 needs .* largest batch that fits at maxLength 63 is 8322/);
      const rows = Array.from({ length: 9000 }, () => new Array<number>(64).fill(1));
      expect((await failure(() => model.features(rows, { layers: [1], batchSize: 9000 }))).message).toMatch(/^features: /);
      expect((await failure(() => model.features(rows, { layers: [1], batchSize: 9000 }))).message).toMatch(message);
      const processor = new ImageGPTImageProcessor({ clusters: Array.from({ length: 512 }, (_, i) => [i / 512, 0, 0]), size: { height: 8, width: 8 } });
      expect((await failure(() => model.complete(new Array(64).fill(1), { keepRows: 4, samples: 9000, processor }))).message).toMatch(/^complete: /);
      expect((await failure(() => model.complete(new Array(64).fill(1), { keepRows: 4, samples: 9000, processor }))).message).toMatch(message);
      expect(model.memory().sessionBytes).toBe(before);
    });

    it('features picks its default batch (32) or fewer where the device limits it, and works', async () => {
      const rows = Array.from({ length: 40 }, (_, i) => [SOS, i, i + 1, i + 2]);
      const pooled = await model.features(rows, { layers: [2] });
      expect(pooled.get(2)!.length).toBe(40 * 64);
    });
  });
});

describe('the tiny model on the test device', () => {
  let model: ImageGPT;
  const processor = new ImageGPTImageProcessor({ clusters: Array.from({ length: 512 }, (_, i) => [i / 512, 0, 0]), size: { height: 8, width: 8 } });
  beforeAll(async () => {
    model = await loadTiny(await getTestDevice());
  });
  afterAll(() => model?.dispose());

  it('kind 7: sizes that would exhaust memory are Errors before anything is allocated', async () => {
    const before = model.memory().sessionBytes;
    expect((await failure(() => model.generate({ batchSize: 1e8 }))).message).toMatch(/generate: batch 100000000 exceeds 65535/);
    expect((await failure(() => model.complete(new Array(64).fill(1), { keepRows: 2, samples: 1e8, processor }))).message).toMatch(/complete: batch 100000000/);
    expect((await failure(() => model.createSession(1e6))).message).toMatch(/createSession\(1000000\): batch 1000000 exceeds/);
    expect((await failure(() => model.generate({ batchSize: 2, width: 1e9 }))).message).toMatch(/width must be an integer in 1..64/);
    expect((await failure(() => model.createSession(1, { maxRows: 1e9 }))).message).toMatch(/maxRows must be an integer in 1..65535/);
    expect(model.memory().sessionBytes).toBe(before);
  });

  it('kind 8: a failed call leaves nothing allocated; dispose frees what a running call holds', async () => {
    const before = model.memory().sessionBytes;
    // A callback that throws mid-run: the run's session, history and staging are freed.
    const boom = new Error('onRow says no');
    const e = await failure(() => model.generate({ batchSize: 2, seed: 1, onRow: () => { throw boom; } }));
    expect(e).toBe(boom);
    expect(model.memory().sessionBytes).toBe(before);
    // A session whose forward setup fails (an unknown option) made nothing.
    await failure(() => model.createSession(2, { maxRows: 0 }));
    expect(model.memory().sessionBytes).toBe(before);
    // dispose() during a run frees its buffers; the run fails with a plain Error.
    const other = await loadTiny(await getTestDevice());
    const run = other.generate({ batchSize: 2, seed: 2, onRow: ({ row }) => { if (row === 1) other.dispose(); } });
    expect((await failure(() => run)).message).toBe('ImageGPT: disposed during generate()');
    expect(other.memory().sessionBytes).toBe(0);
  });

  it('kind 10: bad options and callbacks are plain Errors naming them, before any GPU work', async () => {
    const ids = [[SOS, 1, 2]];
    expect((await failure(() => model.forward(ids, null as never))).message).toMatch(/forward: options must be an object, got null/);
    expect((await failure(() => model.forward(ids, { outputHiddenStates: 'yes' } as never))).message).toMatch(/outputHiddenStates must be true or false/);
    expect((await failure(() => model.forward(ids, { hidden: true } as never))).message).toMatch(/unknown option "hidden"; known options: outputHiddenStates/);
    expect((await failure(() => model.generate({ onRow: 'x' } as never))).message).toMatch(/generate: onRow must be a function, got string/);
    expect((await failure(() => model.generate({ onTokens: 5 } as never))).message).toMatch(/onTokens must be a function/);
    expect((await failure(() => model.generate({ signal: {} } as never))).message).toMatch(/signal must be an AbortSignal/);
    expect((await failure(() => model.generate({ stats: 1 } as never))).message).toMatch(/stats must be an object/);
    expect((await failure(() => model.generate({ sos: 1 } as never))).message).toMatch(/sos must be true or false/);
    expect((await failure(() => model.generate({ topk: 3 } as never))).message).toMatch(/unknown option "topk"; known options: temperature, topK/);
    expect((await failure(() => model.generate(null as never))).message).toMatch(/generate: options must be an object/);
    expect((await failure(() => model.generate({ batchSize: '2' } as never))).message).toMatch(/batchSize must be a positive integer/);
    expect((await failure(() => model.generate({ seed: '1' } as never))).message).toMatch(/seed/);
    expect((await failure(() => model.features(ids, { batchsize: 2 } as never))).message).toMatch(/unknown option "batchsize"/);
    expect((await failure(() => model.features(ids, { layers: [1], onProgress: 'x' } as never))).message).toMatch(/onProgress must be a function/);
    expect((await failure(() => model.features(ids, { layers: [1], processor: {} } as never))).message).toMatch(/processor must have an encode/);
    expect((await failure(() => model.features(ids, null as never))).message).toMatch(/features: options must be an object/);
    expect((await failure(() => model.createSession(1, null as never))).message).toMatch(/createSession: options must be an object/);
    expect((await failure(() => model.createSession(1, { maxlength: 3 } as never))).message).toMatch(/unknown option "maxlength"/);
    expect((await failure(() => model.complete(new Array(64).fill(1), null as never))).message).toMatch(/complete: options/);
    expect((await failure(() => model.complete(new Array(64).fill(1), { keepRows: 2 } as never))).message).toMatch(/processor/);
    expect((await failure(() => model.complete(new Array(64).fill(1), { keepRows: 2, processor, prompt: [] } as never))).message).toMatch(/unknown option "prompt"/);
    expect((await failure(() => model.complete(new Array(64).fill(1), { keepRows: 2, processor, width: 7 }))).message).toMatch(/width must be an integer that divides n_positions \(64\)/);
    expect((await failure(() => processor.decode(undefined as never))).message).toMatch(/decode: tokens must be an array/);
    expect((await failure(() => processor.decode([1], null as never))).message).toMatch(/decode: options must be an object/);
    expect((await failure(() => processor.decode(new Array(64).fill(1), { fill: 'red' } as never))).message).toMatch(/fill must be/);
    expect((await failure(() => processor.encode(undefined as never))).message).toMatch(/encode: expected an image/);
    expect((await failure(() => processor.encode([], { prependSOS: true } as never))).message).toMatch(/unknown option "prependSOS"/);
    expect(model.memory().sessionBytes).toBe(0);
  });

  it('issue 18 item 9: every option error names the public call (complete, not the generate it runs on); keepRows ≥ height is an error', async () => {
    const image = new Array(64).fill(1);
    const cases: [RegExp, () => Promise<unknown>][] = [
      [/^complete: topK must be an integer ≥ 0/, () => model.complete(image, { processor, keepRows: 2, topK: -1 })],
      [/^complete: temperature must be a finite number/, () => model.complete(image, { processor, keepRows: 2, temperature: 'hot' } as never)],
      [/^complete: seed must be an integer/, () => model.complete(image, { processor, keepRows: 2, seed: 1.5 })],
      [/^complete: onRow must be a function/, () => model.complete(image, { processor, keepRows: 2, onRow: 3 } as never)],
      [/^complete: signal must be an AbortSignal/, () => model.complete(image, { processor, keepRows: 2, signal: {} } as never)],
      [/^complete: batch 100000000 exceeds/, () => model.complete(image, { processor, keepRows: 2, samples: 1e8 })],
      // Keeping every row of the 8-row image would generate nothing.
      [/^complete: keepRows must be an integer in 0\.\.7 \(the image is 8 token rows high; at least one row is generated\), got 8$/, () => model.complete(image, { processor, keepRows: 8 })],
      [/^complete: keepRows\[1\] must be an integer in 0\.\.7 .*got 9$/, () => model.complete(image, { processor, keepRows: [2, 9] })],
      [/^classify: this checkpoint has no score\.weight/, () => model.classify([[SOS, 1]])],
      // A caller's processor that gives back the wrong thing: named, not a TypeError from indexing it.
      [/^complete: processor\.encode\(image\) must give inputIds of one row of tokens, got \[\]$/, () => model.complete({}, { processor: { encode: () => ({ inputIds: [] }), decode: processor.decode.bind(processor) }, keepRows: 2 })],
      [/^complete: processor\.decode\(tokens\) must give \{ data: Uint8ClampedArray, width, height \}, got undefined$/, () => model.complete(image, { processor: { encode: processor.encode.bind(processor), decode: () => undefined as never }, keepRows: 7, temperature: 0 })],
    ];
    for (const [expected, call] of cases) expect((await failure(call)).message).toMatch(expected);
    await expect(model.complete(image, { processor, keepRows: 2, signal: AbortSignal.abort() })).rejects.toThrow(/^complete: aborted$/);
    const [one] = await model.complete(image, { processor, keepRows: 7, temperature: 0 });
    expect(Array.from(one.tokens.subarray(0, 56))).toEqual(image.slice(0, 56));
  });

  it('kind 12: out-of-range sizes are refused, not clamped', async () => {
    for (const maxRows of [0, -5, 1.5, Number.NaN, '8']) {
      expect((await failure(() => model.createSession(1, { maxRows } as never))).message).toMatch(/createSession: maxRows must be an integer in 1\.\.65535/);
    }
    expect((await failure(() => model.createSession(4, { maxRows: 3 }))).message).toMatch(/maxRows must be an integer in 4\.\.65535 \(at least one row per sequence/);
    for (const batchSize of [1.5, 0, -1, Number.POSITIVE_INFINITY]) {
      expect((await failure(() => model.features([[1, 2, 3]], { layers: [1], batchSize }))).message).toMatch(/features: batchSize must be a positive integer/);
    }
    expect((await failure(() => model.createSession(1, { maxLength: 65 }))).message).toMatch(/maxLength must be an integer in 1..64/);
    expect((await failure(() => model.generate({ maxNewTokens: 2.5 }))).message).toMatch(/maxNewTokens must be an integer/);
    // A valid maxRows above batch × maxLength is simply never reached: the buffers are made for what can be used.
    const s = model.createSession(2, { maxLength: 8, maxRows: 1000 });
    expect(s.maxRows).toBe(16);
    s.dispose();
  });

  it('option values that cannot be printed (an object, an array 5,000 deep, a Symbol) give plain Errors with short excerpts', async () => {
    let deep: unknown = [];
    for (let i = 0; i < 5000; i++) deep = [deep];
    for (const bad of [{ a: 1 }, deep, Symbol('s')]) {
      const calls: [RegExp, () => unknown][] = [
        [/createSession: batchSize must be a positive integer, got /, () => model.createSession(bad as never)],
        [/createSession: maxRows must be an integer in 1\.\.65535 .*, got /, () => model.createSession(1, { maxRows: bad } as never)],
        [/^generate: topK must be an integer ≥ 0 \(0 = off\), got /, () => model.generate({ topK: bad } as never)],
        [/encode: prependSos must be true or false, got /, () => processor.encode([], { prependSos: bad } as never)],
        // The probe's messages may start with the call that was made (new LinearProbe: …).
        [/^(new LinearProbe: )?l2 is .*: expected a finite number ≥ 0$/, () => new LinearProbe({ l2: bad } as never)],
        [/^(LinearProbe.fit: )?tol is .*: expected a finite number > 0$/, () => new LinearProbe().fit(new Float32Array(4), [0, 1], { tol: bad } as never)],
      ];
      for (const [expected, call] of calls) {
        const { message } = await failure(call);
        expect(message).toMatch(expected);
        expect(message).not.toMatch(/\[object Object\]/);
        expect(message.length).toBeLessThan(300);
      }
    }
    expect((await failure(() => model.createSession({ a: 1 } as never))).message).toMatch(/got \{"a": 1\}$/);
    expect((await failure(() => model.generate({ topK: Symbol('s') } as never))).message).toMatch(/got a symbol$/);
    expect(model.memory().sessionBytes).toBe(0);
  });
});

/** Runs `body` with unhandled rejections collected into the array it gets (the body checks it), not thrown. */
async function watchingUnhandled(body: (unhandled: unknown[]) => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const count = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', count);
  try {
    await body(unhandled);
  } finally {
    process.off('unhandledRejection', count);
  }
}

describe('device loss (kind 9)', () => {
  it('a destroyed device fails every pending call with one clear Error, no unhandled rejection; the model says it is lost; a new model works', async () => {
    await watchingUnhandled(async (unhandled) => {
      const { device } = await createNodeDevice();
      const model = await loadTiny(device);
      await model.generate({ batchSize: 4, maxNewTokens: 8, seed: 1 }); // pipelines compiled: the next run is all GPU work
      expect(model.isLost).toBe(false);
      const calls = [
        model.generate({ batchSize: 4, seed: 1, onRow: ({ row }) => { if (row === 2) device.destroy(); } }),
        model.generate({ batchSize: 3, seed: 2 }),
        model.features(Array.from({ length: 8 }, () => [SOS, 1, 2, 3, 4, 5, 6, 7]), { layers: [2], batchSize: 1 }),
      ];
      const results = await Promise.allSettled(calls);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        const e = (r as PromiseRejectedResult).reason as Error;
        expect(e).toBeInstanceOf(Error);
        expect(e.message).toMatch(/^ImageGPT: the GPU device was lost \(destroyed: .+\); create a new model/);
      }
      expect(model.isLost).toBe(true);
      expect((await model.lost).reason).toBe('destroyed');
      expect((await failure(() => model.generate({ maxNewTokens: 1 }))).message).toMatch(/GPU device was lost \(destroyed/);
      expect((await failure(() => model.forward([[SOS, 1]]))).message).toMatch(/GPU device was lost/);
      expect(() => model.createSession(1)).toThrow(/GPU device was lost/);
      model.dispose(); // still fine after a loss
      await new Promise((resolve) => setTimeout(resolve, 300)); // late rejections would show up by now
      expect(unhandled).toEqual([]);

      const fresh = await loadTiny((await createNodeDevice()).device);
      const out = await fresh.generate({ batchSize: 2, maxNewTokens: 4, temperature: 0 });
      expect(out.length).toBe(8);
      fresh.dispose();
      fresh.device.destroy();
    });
  }, 120_000);

  it('a device destroyed from outside (a timer) while generate waits on the GPU: one clear Error, nothing unhandled', async () => {
    await watchingUnhandled(async (unhandled) => {
      const { device } = await createNodeDevice();
      const model = await loadTiny(device);
      await model.generate({ batchSize: 8, maxNewTokens: 8, seed: 1 });
      let rows = 0;
      const run = model.generate({ batchSize: 8, seed: 3, onRow: () => { if (rows++ === 0) setTimeout(() => device.destroy(), 0); } });
      const e = await failure(() => run);
      expect(e.message).toMatch(/the GPU device was lost \(destroyed/);
      expect(rows).toBeLessThan(8);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(unhandled).toEqual([]);
      model.dispose();
    });
  }, 120_000);
});
