// Fuzz target for the public API's options on the tiny fixture model (GPU): bad option objects and values
// for forward, generate, createSession (+ prefill / step), features, complete, and the processor's encode /
// decode. Besides the harness's rules (a clear Error, in time), live GPU buffers must not grow: every
// createBuffer and destroy of the device is counted.
import { ImageGPT } from '../../src/model/imagegpt';
import { ImageGPTImageProcessor } from '../../src/processor';
import { createNodeDevice, trackBuffers } from '../helpers/gpu';
import { readFileSync } from 'node:fs';
import { fixture as processorFixture } from '../processor/fixture';
import { describeValue } from '../../src/json';
import type { FuzzTarget, Rng } from './harness';

type Method = 'forward' | 'generate' | 'createSession' | 'prefill' | 'step' | 'features' | 'featuresMulti' | 'complete' | 'encode' | 'decode';
const METHODS: readonly Method[] = ['forward', 'generate', 'createSession', 'prefill', 'step', 'features', 'featuresMulti', 'complete', 'encode', 'decode'];

interface ApiInput {
  method: Method;
  /** The arguments, as built (may hold functions, typed arrays, deep arrays). */
  args: unknown[];
}

const deep = (depth: number): unknown => {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

/** Values no option should accept silently. */
function hostileValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => undefined,
    () => null,
    () => NaN,
    () => -1,
    () => 0,
    () => 1.5,
    () => 1e9,
    () => 2 ** 53,
    () => Infinity,
    () => -Infinity,
    () => -0,
    () => '3',
    () => '',
    () => true,
    () => false,
    () => ({}),
    () => [],
    () => [1, 2],
    () => deep(5000),
    () => () => 1,
    () => new Float32Array(2),
    () => 3n,
    () => Symbol('s'),
    () => ({ valueOf: () => 2 }),
    // A long string (a key or name pasted whole): messages quote only an excerpt of it.
    () => 'x\n"'.repeat(25_000),
  ])();
}

/** An option value: mostly a valid one, sometimes hostile. */
function optionValue(rng: Rng, valid: readonly unknown[]): unknown {
  return rng.chance(0.55) ? rng.pick(valid) : hostileValue(rng);
}

/** Token rows for the tiny model (vocab 513, n_positions 64): valid, or broken in one way. */
function tokenRows(rng: Rng, maxT = 8): unknown {
  const B = rng.range(1, 2);
  const T = rng.range(1, maxT);
  const rows: unknown[][] = Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(513)));
  switch (rng.int(12)) {
    case 0:
      rows[rng.int(B)][rng.int(T)] = rng.pick([513, -1, 1.5, NaN, '5', null, 2 ** 31, Infinity]);
      break;
    case 1:
      rows[rng.int(B)].push(0);
      return rows;
    case 2:
      return rng.pick([[], [[]], [[0], []], 'tokens', 5, null, {}, deep(5000)]);
    case 3:
      return [Array.from({ length: 65 }, () => 0)];
    case 4:
      return rows.map((r) => Int32Array.from(r as number[]));
    case 5:
      // Many rows are valid input: sized so that even a batchSize of 1 stays within the time limit for accepted calls
      // (5,000 rows in batches of 2 took 30 s on SwiftShader: slow, not wrong).
      return Array.from({ length: rng.pick([100, 600]) }, () => [0]);
    case 6:
      return [hostileValue(rng)];
    default:
  }
  return rows;
}

/** An options object: valid keys with valid or hostile values, sometimes an unknown key, sometimes not an object. */
function options(rng: Rng, valid: Record<string, readonly unknown[]>): unknown {
  if (rng.chance(0.08)) return hostileValue(rng);
  const o: Record<string, unknown> = {};
  for (const [key, values] of Object.entries(valid)) if (rng.chance(0.5)) o[key] = optionValue(rng, values);
  if (rng.chance(0.1)) o[rng.pick(['batch_size', 'topk', 'max_length', 'layerz', 'k'.repeat(70_000)])] = 1;
  return o;
}

const SAMPLING = { temperature: [0, 0.5, 1, 2], topK: [0, 1, 40, 512], topP: [0.5, 0.9, 1], seed: [0, 1, 0xffffffff] };

function generateInput(rng: Rng): ApiInput {
  const method = rng.pick(METHODS);
  switch (method) {
    case 'forward': {
      const ids = tokenRows(rng);
      // Labels: the ids themselves with some ignored (-100), or another set of rows (mostly the wrong shape).
      const sameShape = Array.isArray(ids) && ids.every((r) => Array.isArray(r))
        ? (ids as unknown[][]).map((r) => r.map((t) => (rng.chance(0.2) ? -100 : t)))
        : ids;
      const labels = [sameShape, tokenRows(rng)];
      return { method, args: [ids, options(rng, { outputHiddenStates: [true, false], outputLogits: [true, false], labels })] };
    }
    case 'generate':
      return {
        method,
        args: [
          options(rng, {
            ...SAMPLING,
            batchSize: [1, 2],
            prompt: [[[1, 2, 3]], [[5, 6, 7, 8, 9, 10, 11, 12]], [Array.from({ length: 56 }, (_, i) => i)]],
            sos: [true, false],
            maxNewTokens: [1, 4, 8],
            width: [8, 4],
            signal: [AbortSignal.abort()],
            onTokens: [() => {}],
            onRow: [() => {}],
          }),
        ],
      };
    case 'createSession':
    case 'prefill':
    case 'step':
      return {
        method,
        args: [optionValue(rng, [1, 2]), options(rng, { maxLength: [1, 8, 64], maxRows: [1, 4, 1024] }), tokenRows(rng), [rng.int(513), rng.int(513)].slice(0, rng.range(0, 2))],
      };
    case 'features':
      return { method, args: [tokenRows(rng), options(rng, { layer: [0, 1, 2] })] };
    case 'featuresMulti':
      return { method, args: [tokenRows(rng), { layers: optionValue(rng, [[0], [0, 2], [1]]), ...(options(rng, { batchSize: [1, 2, 32], pool: ['mean'] }) as object) }] };
    case 'complete':
      return {
        method,
        args: [
          rng.chance(0.5) ? tokenRows(rng, 64) : { data: new Uint8Array(8 * 8 * 3), width: 8, height: 8 },
          { processor: 'processor', ...(options(rng, { ...SAMPLING, keepRows: [0, 4, 7, 8], samples: [1, 2] }) as object) },
        ],
      };
    case 'encode':
      return {
        method,
        args: [
          rng.pick<unknown>([{ data: new Uint8Array(12), width: 2, height: 2 }, { data: new Uint8Array(12), width: 2, height: optionValue(rng, [2]) }, hostileValue(rng), []]),
          options(rng, { background: [[255, 255, 255], null], prependSos: [true, false] }),
        ],
      };
    case 'decode':
      return {
        method,
        args: [
          rng.pick<unknown>([new Array(64).fill(1), new Int32Array(64), [1, 2], hostileValue(rng), tokenRows(rng)]),
          options(rng, { height: [8, 2], width: [8, 2], fill: [[0, 0, 0, 255]] }),
        ],
      };
  }
}


export const apiTarget: FuzzTarget<ApiInput> = {
  name: 'api',
  limitMs: 1000,
  acceptedLimitMs: 15_000,
  async setup() {
    const { device } = await createNodeDevice();
    const tracked = trackBuffers(device);
    const buffers = { live: () => tracked.live.size };
    const config = JSON.parse(readFileSync(new URL('../fixtures/tiny/config.json', import.meta.url), 'utf8')) as unknown;
    const weights = new Uint8Array(readFileSync(new URL('../fixtures/tiny/model.safetensors', import.meta.url)));
    const model = await ImageGPT.fromPretrained({ config, weights }, { device, dtype: 'f32' });
    const processor = new ImageGPTImageProcessor({ clusters: processorFixture.clusters, size: { height: 8, width: 8 } });

    const call = async ({ method, args }: ApiInput): Promise<unknown> => {
      const a = args as never[];
      switch (method) {
        case 'forward':
          return model.forward(a[0], a[1]);
        case 'generate':
          return model.generate(a[0]);
        case 'createSession':
        case 'prefill':
        case 'step': {
          const session = model.createSession(a[0], a[1]);
          try {
            if (method === 'prefill') await session.prefill(a[2]);
            if (method === 'step') {
              await session.prefill(Array.from({ length: session.batchSize }, () => [1]));
              await session.step(a[3]);
            }
          } finally {
            session.dispose();
          }
          return undefined;
        }
        case 'features':
        case 'featuresMulti':
          return model.features(a[0], a[1]);
        case 'complete': {
          const o = a[1] as Record<string, unknown>;
          return model.complete(a[0], { ...o, processor: o.processor === 'processor' ? processor : o.processor } as never);
        }
        case 'encode':
          return processor.encode(a[0], a[1]);
        case 'decode':
          return processor.decode(a[0], a[1]);
      }
    };

    // Warm up every path once with valid arguments, so caches made on first use (pipelines, the sampler's
    // small uniforms) are in the baseline.
    const warm: ApiInput[] = [
      { method: 'forward', args: [[[1, 2]], {}] },
      { method: 'generate', args: [{ maxNewTokens: 2, seed: 1 }] },
      { method: 'generate', args: [{ maxNewTokens: 2, seed: 1, batchSize: 2, temperature: 0 }] },
      { method: 'step', args: [1, {}, [[1]], [2]] },
      // Two rows and a one-token cache: their kernels' first compile (over a second on SwiftShader) is setup, not an input's time.
      { method: 'prefill', args: [2, { maxLength: 1 }, [[1], [2]], []] },
      { method: 'features', args: [[[1, 2]], {}] },
      { method: 'featuresMulti', args: [[[1, 2]], { layers: [0, 1, 2] }] },
      { method: 'complete', args: [{ data: new Uint8Array(8 * 8 * 3), width: 8, height: 8 }, { processor: 'processor', keepRows: 7, seed: 1 }] },
    ];
    for (const input of warm) await call(input);
    // generate and complete keep their last session for the next call of its shape; any new session frees it. The
    // count is taken with it freed, so what it holds (more with a ragged prompt's mask) is not counted as growth.
    const freeCachedSession = () => model.createSession(1, { maxLength: 1 }).dispose();
    freeCachedSession();
    await device.queue.onSubmittedWorkDone();
    const baseline = buffers.live();
    let reported = baseline;

    return {
      generate: (rng) => generateInput(rng),
      async run(input) {
        await call(input);
      },
      async after() {
        freeCachedSession();
        await device.queue.onSubmittedWorkDone();
        const live = buffers.live();
        if (live > reported) {
          const problem = `live GPU buffers grew from ${baseline} to ${live} (${live - reported} more after this input)`;
          reported = live; // report each growth once
          return problem;
        }
      },
      describe: ({ method, args }) => `${method}(${args.map((a) => describeValue(a, 160)).join(', ')})`,
      async teardown() {
        model.dispose();
        await device.queue.onSubmittedWorkDone();
        device.destroy();
      },
    };
  },
};
