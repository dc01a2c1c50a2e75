// Issue 10, "every released size": the configs of openai/imagegpt-small, -medium and -large (as the hub publishes
// them, test/fixtures/hub-configs/) are accepted, and without a `device` the loader asks the adapter for the limits
// of the library's own defaults (a batch of 32 at 1024 positions), capped at what the adapter offers. A fake adapter
// records what is asked and stops the load there, so no GPU of that size is needed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ImageGPT } from '../../src/model/imagegpt';
import { parseImageGPTConfig } from '../../src/model/config';
import { DEFAULT_BATCH_SIZE, largestBatchThatFits, modelLimitNeeds } from '../../src/model/limits';
import { loadModelFixture } from '../helpers/fixtures';

const SIZES = ['small', 'medium', 'large'] as const;
const configJson = (size: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(__dirname, '../fixtures/hub-configs', `imagegpt-${size}.json`), 'utf8')) as Record<string, unknown>;

/** Two adapters: a discrete GPU's limits, and WebGPU's defaults (what a cautious browser may offer). */
const ADAPTERS = {
  discrete: { maxBufferSize: 4 * 2 ** 30, maxStorageBufferBindingSize: 2 ** 31 - 4 },
  defaults: { maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 },
};

class Stop extends Error {}

/** navigator.gpu whose adapter has `limits`; requestDevice records its requiredLimits and stops the load. */
function fakeGpu(limits: Record<string, number>, asked: Record<string, number>[]): GPU {
  const adapter = {
    limits,
    info: { vendor: 'test', architecture: 'test', device: '', description: '' },
    features: new Set<string>(),
    async requestDevice(d?: GPUDeviceDescriptor): Promise<GPUDevice> {
      asked.push({ ...(d?.requiredLimits as Record<string, number>) });
      throw new Stop('stop: the limits were recorded');
    },
  };
  return { requestAdapter: async () => adapter } as unknown as GPU;
}

describe('released sizes: small, medium, large', () => {
  afterEach(() => vi.unstubAllGlobals());
  const tiny = loadModelFixture('tiny');

  for (const size of SIZES) {
    it(`imagegpt-${size}: its hub config parses as the published shape`, () => {
      const c = parseImageGPTConfig(configJson(size), `imagegpt-${size}/config.json`);
      expect(c.n_inner).toBe(4 * c.n_embd);
      expect(c.vocab_size).toBe(513);
      expect(c.n_positions).toBe(1024);
    });

    for (const dtype of ['f16', 'f32'] as const) {
      for (const [adapterName, limits] of Object.entries(ADAPTERS)) {
        it(`imagegpt-${size} ${dtype} on ${adapterName} limits: asks for batch 32 at full length, capped at the adapter`, async () => {
          const json = configJson(size);
          const config = parseImageGPTConfig(json);
          const asked: Record<string, number>[] = [];
          vi.stubGlobal('navigator', { gpu: fakeGpu(limits, asked) });
          // The weights are never reached: the fake device stops the load right after the limits are asked for.
          await expect(ImageGPT.fromPretrained({ config: json, weights: tiny.weightBytes }, { dtype })).rejects.toBeInstanceOf(Stop);
          expect(asked).toHaveLength(1);
          const want = modelLimitNeeds(config, { batchSize: DEFAULT_BATCH_SIZE, maxLength: 1024, dtype });
          const one = modelLimitNeeds(config, { batchSize: 1, maxLength: 1024, dtype });
          for (const name of ['maxBufferSize', 'maxStorageBufferBindingSize'] as const) {
            expect(asked[0][name]).toBe(Math.min(want[name], limits[name]));
            expect(asked[0][name]).toBeGreaterThanOrEqual(one[name]); // one sequence always fits
          }
          const batch = largestBatchThatFits(config, limits, 1024, { dtype });
          if (want.maxStorageBufferBindingSize <= limits.maxStorageBufferBindingSize && want.maxBufferSize <= limits.maxBufferSize) {
            expect(batch).toBeGreaterThanOrEqual(DEFAULT_BATCH_SIZE);
          } else {
            expect(batch).toBeGreaterThanOrEqual(1);
            expect(batch).toBeLessThan(DEFAULT_BATCH_SIZE);
          }
        });
      }
    }
  }

  it('imagegpt-large on WebGPU defaults: 21 sequences at full length fit 128 MiB per binding (K of a layer: 192 MiB at 32)', () => {
    const large = parseImageGPTConfig(configJson('large'));
    expect(largestBatchThatFits(large, ADAPTERS.defaults, 1024, { dtype: 'f16' })).toBe(21);
    expect(modelLimitNeeds(large, { batchSize: 32, maxLength: 1024, dtype: 'f16' }).maxStorageBufferBindingSize).toBe(32 * 1024 * 1536 * 4);
  });
});
