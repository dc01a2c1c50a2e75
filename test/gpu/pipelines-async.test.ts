// Pipelines compiled asynchronously at load: after fromPretrained, generate, complete, features and bitsPerToken
// make no pipeline synchronously (each such make stalls the caller while the driver compiles); the paths left to
// first use (the attention view) still do, which shows the count counts. An error of createComputePipelineAsync is an
// ImageGPTError 'E_INTERNAL' that, for a compile error, names the shader file and line and shows it with a caret.
// Each test has a device of its own: the cache is per device, and the shared device's may already hold everything.
import { describe, it, expect, afterAll } from 'vitest';
import { createNodeDevice } from '../helpers/gpu';
import { loadModelFixture } from '../helpers/fixtures';
import { ImageGPT } from '../../src/model/imagegpt';
import { distinctSessionLengths } from '../../src/model/precompile';
import { ImageGPTImageProcessor } from '../../src/processor/processor';
import { ImageGPTError } from '../../src/errors';
import { PipelineCache, shader, assembleSource } from '../../src/gpu/pipelines';
import { GPU_TUNING, type KernelTuning } from '../../src/gpu/tuning';
import type { WeightDType } from '../../src/gpu/types';

const tiny = loadModelFixture('tiny'); // n_positions 64, 2 layers
const source = { config: tiny.configJson, weights: tiny.weightBytes };
const image = Array.from({ length: 64 }, (_, i) => (i * 7) % 512);
const processor = new ImageGPTImageProcessor({ clusters: Array.from({ length: 512 }, (_, i) => [i / 512, 0, 0]), size: { height: 8, width: 8 } });

const devices: GPUDevice[] = [];
/** A device of its own (the kernels' optional features where the adapter has them), so its pipeline cache starts empty. */
async function freshDevice(): Promise<GPUDevice> {
  const { device } = await createNodeDevice({ optionalFeatures: ['shader-f16', 'subgroups'] });
  devices.push(device);
  return device;
}

afterAll(async () => {
  for (const d of devices) {
    await d.queue.onSubmittedWorkDone();
    d.destroy();
  }
});

describe('pipelines compiled asynchronously at load', () => {
  // The adapter's table, and the layouts real GPUs get where they make other pipelines: the workgroup attention
  // (its score slots sized by the session length) and the workgroup norm (GPU_TUNING's shared-memory matmul tiles
  // are left out: far too slow on a CPU adapter for a test).
  const CASES: [string, WeightDType, Partial<KernelTuning>][] = [
    ['f16 weights, the adapter tuning', 'f16', {}],
    ['f32 weights, workgroup attention and norm', 'f32', { attention: 'workgroup', norm: 'workgroup', normThreads: GPU_TUNING.normThreads }],
  ];
  for (const [name, dtype, tuning] of CASES) {
    it(`${name}: after fromPretrained, generate, complete, features and bitsPerToken make no pipeline synchronously; attentionRow still does`, async () => {
      const device = await freshDevice();
      const cache = PipelineCache.forDevice(device);
      const model = await ImageGPT.fromPretrained(source, { device, dtype, tuning });
      try {
        expect(cache.asynchronousCount, 'fromPretrained compiled the pipelines asynchronously').toBeGreaterThan(5);
        const sync = cache.synchronousCount;
        const calls: [string, () => Promise<unknown>][] = [
          ['generate', () => model.generate({ batchSize: 2, maxNewTokens: 20, seed: 1 })],
          ['a short generate', () => model.generate({ batchSize: 1, maxNewTokens: 3, temperature: 0 })],
          ['generate with prompts of two lengths', () => model.generate({ prompt: [image.slice(0, 9), image.slice(0, 17)], maxNewTokens: 30, seed: 2 })],
          ['complete', () => model.complete(image, { processor, keepRows: [2, 5], seed: 3 })],
          ['features', () => model.features(tiny.inputIds, { layers: [0, 1, 2] })],
          ['features, normalized', () => model.features(tiny.inputIds.map((r) => r.slice(0, 40)), { layers: [0, 2], normalize: true })],
          ['bitsPerToken', () => model.bitsPerToken([image, image])],
        ];
        for (const [what, call] of calls) {
          await call();
          expect(cache.synchronousCount, `${what} made a pipeline synchronously`).toBe(sync);
        }
        // The attention view is left to first use (model/precompile.ts): its kernel is made then, counted.
        await model.attentionRow(image, 20);
        expect(cache.synchronousCount).toBeGreaterThan(sync);
        // A second model of the same shape on this device compiles nothing new.
        const made = cache.asynchronousCount;
        const second = await ImageGPT.fromPretrained(source, { device, dtype, tuning });
        second.dispose();
        expect(cache.asynchronousCount).toBe(made);
      } finally {
        model.dispose();
      }
    });
  }

  it('the dry run meets every session length whose pipelines differ: a power of two per score-slot size, and n_positions', () => {
    expect(distinctSessionLengths(1).sort((a, b) => a - b)).toEqual([1]);
    expect(distinctSessionLengths(64).sort((a, b) => a - b)).toEqual([1, 2, 4, 8, 16, 32, 64]);
    expect(distinctSessionLengths(1000).sort((a, b) => a - b)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]);
  });

  it('collect() records what get() is asked for and makes nothing; its stand-ins refuse to be used', async () => {
    const device = await freshDevice();
    const cache = PipelineCache.forDevice(device);
    const code = '@compute @workgroup_size(1)\nfn meanPoolSum() {\n}';
    let standIn: GPUComputePipeline | null = null;
    const requests = cache.collect(() => {
      standIn = cache.get('mean_pool.wgsl/empty', code, 'meanPoolSum', {});
      cache.get('mean_pool.wgsl/empty', code, 'meanPoolSum', {}); // the same request once
    });
    expect(requests.map((r) => r.key)).toEqual(['mean_pool.wgsl/empty|meanPoolSum|{}']);
    expect(cache.pipelineCount + cache.synchronousCount).toBe(0);
    expect(() => standIn!.getBindGroupLayout(0)).toThrow(/stand-in made by PipelineCache.collect\(\) was used \(its getBindGroupLayout was read\)/);
    await cache.compile(requests);
    expect([cache.pipelineCount, cache.asynchronousCount, cache.synchronousCount]).toEqual([1, 1, 0]);
    // Now get() only hits the cache: a real pipeline, made by compile().
    expect(cache.get('mean_pool.wgsl/empty', code, 'meanPoolSum', {}).getBindGroupLayout(0)).toBeDefined();
    expect(cache.synchronousCount).toBe(0);
  });

  it("an async compile error names the file, shows the line and a caret, code E_INTERNAL; other GPUPipelineErrors keep Dawn's message", async () => {
    const device = await freshDevice();
    const cache = PipelineCache.forDevice(device);
    const helper = shader('broken-helper.wgsl', 'fn half() -> f32 {\n  return 0.5;\n}');
    const broken = shader('broken-kernel.wgsl', '@compute @workgroup_size(1)\nfn meanPoolSum() {\n  let x: u32 = half();\n}');
    const requests = cache.collect(() => cache.get('mean_pool.wgsl/broken-on-purpose', assembleSource([helper, broken]), 'meanPoolSum', {}));
    const error = await cache.compile(requests).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageGPTError);
    expect((error as ImageGPTError).code).toBe('E_INTERNAL');
    const lines = (error as Error).message.split('\n');
    expect(lines[0]).toBe('WGSL kernel mean_pool.wgsl/broken-on-purpose does not compile:');
    const at = lines.findIndex((l) => l.startsWith('  shaders/broken-kernel.wgsl:3:'));
    expect(at, (error as Error).message).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe('    3 |   let x: u32 = half();');
    expect(lines[at + 2]).toMatch(/^ {6}\| {3,}\^+$/);
    expect(cache.pipelineCount).toBe(0);

    // WGSL that compiles, but an override without a value: the pipeline itself is refused.
    const needsConstant = '@id(0) override N: u32;\n@compute @workgroup_size(N)\nfn meanPoolSum() {\n}';
    const unset = cache.collect(() => cache.get('mean_pool.wgsl/needs-constant', needsConstant, 'meanPoolSum', {}));
    const refused = await cache.compile(unset).catch((e: unknown) => e);
    expect((refused as ImageGPTError).code).toBe('E_INTERNAL');
    expect((refused as Error).message).toMatch(/^WebGPU rejected mean_pool\.wgsl\/needs-constant \(meanPoolSum, \{\}\): .+/);
    // Reported by compile() alone: nothing is left for a later ready().
    await expect(cache.ready()).resolves.toBeUndefined();
  });
});
