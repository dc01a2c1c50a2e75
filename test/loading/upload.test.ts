// The streaming uploader on a real device: any chunking gives the same model as bytes in memory; input
// dtypes convert; non-finite or out-of-f16 values never become Inf/NaN silently; a failed or aborted load
// leaves no GPU buffer behind.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ImageGPT } from '../../src/model/imagegpt';
import { GpuUploader } from '../../src/loading/upload';
import { parseImageGPTConfig } from '../../src/model/config';
import { imageGptWeightSpec } from '../../src/model/weights';
import { writeSafetensors, type SafetensorsDType } from '../../src/safetensors';
import { float16ArrayToFloat32, float32ArrayToFloat16 } from '../../src/f16';
import type { WeightSpec } from '../../src/loading/index';
import { getTestDevice, testGpu, trackBuffers } from '../helpers/gpu';
import { DEFAULT_BATCH_SIZE, modelLimitNeeds } from '../../src/model/limits';
import { loadModelFixture, relError } from '../helpers/fixtures';
import { chunkedStream } from './chunked';

const tiny = loadModelFixture('tiny');
const configBytes = new TextEncoder().encode(JSON.stringify(tiny.configJson));
let device: GPUDevice;

beforeAll(async () => {
  device = await getTestDevice();
});

/** A base URL '/m' served by a stub fetch that ignores Range: weight files stream in the given chunk sizes, length unsaid. */
function streamingFetch(weights: Uint8Array, sizes: number[], opts: { stallAt?: number; onStall?: () => void; cutAt?: number } = {}): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    if (url === '/m/config.json') return new Response(configBytes);
    if (url !== '/m/model.safetensors') return new Response('not found', { status: 404 });
    const inner = chunkedStream(weights, sizes).getReader();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (opts.stallAt !== undefined && sent >= opts.stallAt) {
          opts.onStall?.();
          await new Promise<void>((_, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
        }
        if (opts.cutAt !== undefined && sent >= opts.cutAt) {
          c.error(new TypeError('connection reset'));
          return;
        }
        const { done, value } = await inner.read();
        if (done) return c.close();
        sent += value.length;
        c.enqueue(value);
      },
    });
    // No Content-Length (a chunked transfer): a file of known size under 1 MiB would be read whole first, and
    // these tests are about the uploader taking the bytes in the stream's own pieces.
    return new Response(body);
  }) as typeof fetch;
}

function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

async function logitsOf(model: ImageGPT): Promise<Float32Array> {
  try {
    return (await model.forward(tiny.inputIds)).logits;
  } finally {
    model.dispose();
  }
}

/** The tiny checkpoint with some tensors changed, stored as `dtype`. */
function tinyCheckpoint(dtype: SafetensorsDType = 'F32', edit: (name: string, values: Float32Array) => void = () => {}): Uint8Array {
  const tensors = [...tiny.weights].map(([name, w]) => {
    const values = w.slice();
    edit(name, values);
    const shape = tinyShapes.get(name)!;
    const data =
      dtype === 'F32' ? values : dtype === 'F64' ? Float64Array.from(values) : dtype === 'F16' ? float32ArrayToFloat16(values) : bf16(values);
    return { name, dtype, shape, data };
  });
  return writeSafetensors(tensors);
}

function bf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return Uint16Array.from(bits, (b) => b >>> 16); // truncation: fine for a test of the decoding
}

const tinyShapes = (() => {
  const m = new Map<string, number[]>();
  const header = JSON.parse(new TextDecoder().decode(tiny.weightBytes.subarray(8, 8 + Number(new DataView(tiny.weightBytes.buffer, tiny.weightBytes.byteOffset).getBigUint64(0, true))))) as Record<string, { shape: number[] }>;
  for (const [name, e] of Object.entries(header)) if (name !== '__metadata__') m.set(name, e.shape);
  return m;
})();


describe.each(['f32', 'f16'] as const)('%s: streamed at odd chunk boundaries', (dtype) => {
  let reference: Float32Array;
  beforeAll(async () => {
    reference = await logitsOf(await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype }));
  });

  it.each([
    ['1, 3, 5 and 7 bytes, then 4093', [1, 3, 5, 7, 4093]],
    ['2 and 6 bytes, then 65 537', [2, 6, 65_537]],
  ])('chunks of %s: the same logits, bit for bit', async (_, sizes) => {
    const model = await ImageGPT.fromPretrained('/m', { device, dtype, cache: false, fetch: streamingFetch(tiny.weightBytes, sizes) });
    expect(bytesOf(await logitsOf(model)).equals(bytesOf(reference))).toBe(true);
  });

});

describe('input dtypes (f32 weights)', () => {
  it('F64 checkpoints give the F32 logits exactly; F16 and BF16 ones load and stay close', async () => {
    const reference = await logitsOf(await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype: 'f32' }));
    const f64 = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tinyCheckpoint('F64') }, { device, dtype: 'f32' });
    expect(bytesOf(await logitsOf(f64)).equals(bytesOf(reference))).toBe(true);
    for (const d of ['F16', 'BF16'] as const) {
      const m = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tinyCheckpoint(d) }, { device, dtype: 'f32' });
      expect(relError(await logitsOf(m), reference), d).toBeLessThan(d === 'F16' ? 2e-2 : 6e-2);
    }
  });
});

describe('non-finite values', () => {
  it('NaN or Infinity in a checkpoint is an error naming the tensor, the index and the value', async () => {
    for (const [value, shown] of [
      [NaN, 'NaN'],
      [-Infinity, '-Infinity'],
    ] as const) {
      const weights = tinyCheckpoint('F32', (n, v) => {
        if (n === 'transformer.h.1.ln_2.weight') v[5] = value;
      });
      await expect(ImageGPT.fromPretrained({ config: tiny.configJson, weights }, { device, dtype: 'f32' })).rejects.toThrow(
        `tensor "transformer.h.1.ln_2.weight" holds ${shown} at index 5`,
      );
    }
  });

  it('a value beyond float16 in a streamed matrix: an error suggesting dtype f32; with f32 it loads', async () => {
    const weights = tinyCheckpoint('F32', (n, v) => {
      if (n === 'transformer.h.0.mlp.c_fc.weight') v[123] = 70_000;
    });
    await expect(ImageGPT.fromPretrained({ config: tiny.configJson, weights }, { device, dtype: 'f16' })).rejects.toThrow(
      /tensor "transformer\.h\.0\.mlp\.c_fc\.weight" holds 70000 at index 123, beyond float16's ±65504; load with dtype: 'f32'/,
    );
    const m = await ImageGPT.fromPretrained({ config: tiny.configJson, weights }, { device, dtype: 'f32' });
    expect((await logitsOf(m)).every(Number.isFinite)).toBe(true);
  });

  it('lm_head.weight with 70 000 in a column the hidden state zeroes: kept in f32 under f16, the logits equal the f32 ones', async () => {
    const E = tiny.config.n_embd;
    const e0 = 17;
    const weights = tinyCheckpoint('F32', (n, v) => {
      if (n === 'transformer.ln_f.weight') v[e0] = 0; // ln_f has no bias: hidden unit e0 is exactly 0
      if (n === 'lm_head.weight') for (const row of [0, 100, 511]) v[row * E + e0] = row === 100 ? -70_000 : 70_000;
    });
    const f32 = await logitsOf(await ImageGPT.fromPretrained({ config: tiny.configJson, weights }, { device, dtype: 'f32' }));
    const m16 = await ImageGPT.fromPretrained({ config: tiny.configJson, weights }, { device });
    expect(m16.dtype).toBe('f16');
    expect(m16.weights.lmHead?.dtype).toBe('f32');
    expect(m16.weights.wte.dtype).toBe('f16');
    const f16 = await logitsOf(m16);
    expect(f16.every(Number.isFinite)).toBe(true);
    expect(relError(f16, f32)).toBeLessThan(2e-2);
    // Unedited, lm_head goes to f16 like every other matrix.
    const plain = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device });
    expect(plain.weights.lmHead?.dtype).toBe('f16');
    plain.dispose();
  });
});

describe('nothing is kept by a load that fails', () => {
  let tracker: ReturnType<typeof trackBuffers>;
  beforeAll(() => {
    tracker = trackBuffers(device);
  });
  afterAll(() => tracker.restore());

  it('a download cut half-way: an error, every buffer made destroyed', async () => {
    const before = tracker.created();
    const f = streamingFetch(tiny.weightBytes, [4099], { cutAt: tiny.weightBytes.length / 2 });
    await expect(ImageGPT.fromPretrained('/m', { device, cache: false, fetch: f })).rejects.toThrow(/connection reset/);
    expect(tracker.created() - before).toBeGreaterThan(0);
    expect(tracker.live.size).toBe(0);
  });

  it('aborted mid-upload: AbortError, every buffer made destroyed', async () => {
    const before = tracker.created();
    const controller = new AbortController();
    let stalled!: () => void;
    const stall = new Promise<void>((r) => (stalled = r));
    const f = streamingFetch(tiny.weightBytes, [4099], { stallAt: Math.floor(tiny.weightBytes.length * 0.6), onStall: () => stalled() });
    const load = ImageGPT.fromPretrained('/m', { device, cache: false, fetch: f, signal: controller.signal }).catch((e: unknown) => e);
    await stall;
    expect(tracker.created() - before).toBeGreaterThan(0);
    controller.abort();
    const error = (await load) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('AbortError');
    expect(error.message).toMatch(/aborted/);
    expect(tracker.live.size).toBe(0);
  });

  it('a tensor in two shards, or missing at the end: an error, nothing kept', () => {
    const config = parseImageGPTConfig(tiny.configJson);
    const up = new GpuUploader(device, imageGptWeightSpec(config), 'f32');
    const info = { name: 'transformer.wte.weight', dtype: 'F32' as const, shape: [513, 64] };
    up.declare('a.safetensors', [info]);
    expect(() => up.declare('b.safetensors', [info])).toThrow(/"transformer\.wte\.weight" appears twice \(in a\.safetensors and in b\.safetensors\)/);
    up.destroy();
    const up2 = new GpuUploader(device, imageGptWeightSpec(config), 'f32');
    up2.declare('a.safetensors', [info]);
    up2.data('transformer.wte.weight', 0, new Uint8Array(513 * 64 * 4));
    expect(() => up2.finish()).toThrow(/missing tensor "transformer\.wpe\.weight"/);
    up2.destroy();
    expect(tracker.live.size).toBe(0);
  });

  it('unexpected tensors, wrong shapes and wrong dtypes are refused at declare, before any buffer', () => {
    const config = parseImageGPTConfig(tiny.configJson);
    const before = tracker.created();
    const up = new GpuUploader(device, imageGptWeightSpec(config), 'f16');
    expect(() => up.declare('x', [{ name: 'transformer.h.9.ln_1.weight', dtype: 'F32', shape: [64] }])).toThrow(/unexpected tensor/);
    expect(() => up.declare('x', [{ name: 'transformer.wpe.weight', dtype: 'F32', shape: [64, 63] }])).toThrow(/shape \[64, 63\], expected \[64, 64\]/);
    expect(() => up.declare('x', [{ name: 'transformer.wpe.weight', dtype: 'I32', shape: [64, 64] }])).toThrow(/dtype I32/);
    expect(tracker.created()).toBe(before);
    up.destroy();
  });
});

describe('the device, when none is passed', () => {
  afterAll(() => vi.unstubAllGlobals());

  it("is requested with the limits of a default batch at full length, capped at the adapter's", async () => {
    vi.stubGlobal('navigator', { gpu: testGpu() });
    const adapter = (await testGpu().requestAdapter({ powerPreference: 'high-performance' }))!;
    const model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { dtype: 'f32' });
    try {
      const want = modelLimitNeeds(tiny.config, { batchSize: DEFAULT_BATCH_SIZE, maxLength: tiny.config.n_positions, dtype: 'f32' });
      const l = model.device.limits;
      expect(l.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(Math.min(want.maxStorageBufferBindingSize, adapter.limits.maxStorageBufferBindingSize));
      expect(l.maxBufferSize).toBeGreaterThanOrEqual(Math.min(want.maxBufferSize, adapter.limits.maxBufferSize));
      expect((await logitsOf(model)).every(Number.isFinite)).toBe(true);
    } finally {
      model.device.destroy();
    }
  });

  it('a model that does not fit even one sequence: an error naming the limit, before any weight is asked for', async () => {
    vi.stubGlobal('navigator', { gpu: testGpu() });
    const asked: string[] = [];
    const huge: BodyInit = new TextEncoder().encode(JSON.stringify({ ...tiny.configJson, n_positions: 65536, n_embd: 32768, n_head: 256 }));
    const f = (async (u: string) => {
      asked.push(String(u));
      return u === '/m/config.json' ? new Response(huge) : new Response(tiny.weightBytes.slice());
    }) as typeof fetch;
    await expect(ImageGPT.fromPretrained('/m', { fetch: f, cache: false })).rejects.toThrow(/even for a batch of 1.*(maxBufferSize|maxStorageBufferBindingSize): needed \d+ bytes/);
    expect(asked).toEqual(['/m/config.json']);
  });
});

describe('a device request that never answers', () => {
  afterAll(() => vi.unstubAllGlobals());

  it('abort ends the load at once; a device that arrives afterwards is destroyed', async () => {
    const real = testGpu();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const made: GPUDevice[] = [];
    const destroyed: GPUDevice[] = [];
    // requestAdapter held back (as with a lost GPU process) until after the abort.
    const gpu = {
      getPreferredCanvasFormat: () => real.getPreferredCanvasFormat(),
      requestAdapter: async (o?: GPURequestAdapterOptions) => {
        await released;
        const adapter = (await real.requestAdapter(o))!;
        const requestDevice = adapter.requestDevice.bind(adapter);
        adapter.requestDevice = async (d?: GPUDeviceDescriptor) => {
          const device = await requestDevice(d);
          made.push(device);
          const destroy = device.destroy.bind(device);
          device.destroy = () => {
            destroyed.push(device);
            destroy();
          };
          return device;
        };
        return adapter;
      },
    };
    vi.stubGlobal('navigator', { gpu });
    const controller = new AbortController();
    const load = ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const error = (await Promise.race([load, new Promise((r) => (timer = setTimeout(() => r('still pending after 3 s'), 3000)))])) as Error;
    clearTimeout(timer);
    expect(error.name).toBe('AbortError');
    release();
    for (let i = 0; i < 200 && made.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 10));
    expect(made.length).toBe(1);
    expect(destroyed).toEqual(made);
  });
});

describe('the uploader follows any weight spec (it knows no model)', () => {
  /** A spec of no real model: names, shapes, places and dtypes come only from here. */
  const spec: WeightSpec = {
    what: 'Toy weights',
    tensors: [
      { name: 'm', shape: [2, 4], place: 'gpu', dtype: 'load' },
      { name: 'v', shape: [3], place: 'gpu', dtype: 'f32' },
      { name: 't', shape: [2, 3], place: 'gpu-transposed', dtype: 'load' },
      { name: 'big', shape: [1, 2], place: 'gpu-transposed', dtype: 'load', optional: true },
      { name: 'c', shape: ['n', 2], place: 'cpu', dtype: 'f32', optional: true },
    ],
    skip: /^mask\.\d+$/,
    oneOf: [['big', 'c']],
    unexpectedHint: 'is this a toy checkpoint?',
  };
  const f32 = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);

  /** A weight buffer's bytes: weights are storage-only (no COPY_SRC), so a one-thread kernel copies them out. */
  async function read(buffer: GPUBuffer): Promise<ArrayBuffer> {
    const module = device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read> src: array<u32>;
        @group(0) @binding(1) var<storage, read_write> dst: array<u32>;
        @compute @workgroup_size(1) fn main() { for (var i = 0u; i < arrayLength(&src); i++) { dst[i] = src[i]; } }`,
    });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const copy = device.createBuffer({ size: buffer.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const staging = device.createBuffer({ size: buffer.size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer } }, { binding: 1, resource: { buffer: copy } }] }));
    pass.dispatchWorkgroups(1);
    pass.end();
    encoder.copyBufferToBuffer(copy, 0, staging, 0, buffer.size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const bytes = staging.getMappedRange().slice(0);
    staging.destroy();
    copy.destroy();
    return bytes;
  }

  it('hands back named tensors: matrices in the load dtype, vectors f32, transposed [cols, rows], CPU ones whole; skips what it says', async () => {
    const up = new GpuUploader(device, spec, 'f16');
    up.expectLastFile(true);
    up.declare('toy.safetensors', [
      { name: 'm', dtype: 'F32', shape: [2, 4] },
      { name: 'v', dtype: 'F32', shape: [3] },
      { name: 't', dtype: 'F32', shape: [2, 3] },
      { name: 'big', dtype: 'F32', shape: [1, 2] },
      { name: 'c', dtype: 'F32', shape: [5, 2] },
      { name: 'mask.0', dtype: 'U8', shape: [7] },
    ]);
    up.data('m', 0, f32([1, 2, 3, 4, 5, 6, 7, 8]));
    up.data('v', 0, f32([0.5, -1, 2]));
    up.data('t', 0, f32([1, 2, 3, 4, 5, 6]));
    up.data('big', 0, f32([1e6, 1]));
    up.data('c', 0, f32([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    up.data('mask.0', 0, new Uint8Array(7));
    const out = up.finish();
    try {
      expect([...out.gpu.keys()].sort()).toEqual(['big', 'm', 't', 'v']);
      expect([...out.cpu.keys()]).toEqual(['c']);
      expect(out.buffers.length).toBe(4);
      expect(out.gpuBytes).toBe(out.buffers.reduce((a, b) => a + b.size, 0));
      const m = out.gpu.get('m')!;
      expect([m.dtype, m.shape]).toEqual(['f16', [2, 4]]);
      expect(Array.from(float16ArrayToFloat32(new Uint16Array(await read(m.buffer))))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const v = out.gpu.get('v')!;
      expect([v.dtype, v.shape]).toEqual(['f32', [3]]);
      expect(Array.from(new Float32Array(await read(v.buffer)))).toEqual([0.5, -1, 2]);
      const t = out.gpu.get('t')!;
      expect([t.dtype, t.shape]).toEqual(['f16', [3, 2]]);
      expect(Array.from(float16ArrayToFloat32(new Uint16Array(await read(t.buffer))))).toEqual([1, 4, 2, 5, 3, 6]);
      // Beyond float16: a gathered tensor falls back to f32 instead of failing.
      const big = out.gpu.get('big')!;
      expect([big.dtype, big.shape]).toEqual(['f32', [2, 1]]);
      expect(Array.from(new Float32Array(await read(big.buffer)))).toEqual([1e6, 1]);
      const c = out.cpu.get('c')!;
      expect(c.shape).toEqual([5, 2]);
      expect(Array.from(c.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      for (const b of out.buffers) b.destroy();
    }
  });

  it("its messages start with the spec's name and end with its hint; a oneOf group names its first tensor", () => {
    const up = new GpuUploader(device, spec, 'f32');
    expect(() => up.declare('x', [{ name: 'w', dtype: 'F32', shape: [1] }])).toThrow(/^Toy weights: unexpected tensor\(s\) "w" in x — is this a toy checkpoint\?$/);
    expect(() => up.declare('x', [{ name: 'c', dtype: 'F32', shape: [5, 3] }])).toThrow(/^Toy weights: tensor "c" has shape \[5, 3\], expected \[n, 2\]$/);
    up.declare('x', [
      { name: 'm', dtype: 'F32', shape: [2, 4] },
      { name: 'v', dtype: 'F32', shape: [3] },
      { name: 't', dtype: 'F32', shape: [2, 3] },
    ]);
    expect(() => up.finish()).toThrow(/^Toy weights: missing tensor "big" \(expected shape \[1, 2\]\)$/);
    up.destroy();
    expect(() => up.declare('y', [])).toThrow(/^Toy weights: the uploader was used after finish\(\) or destroy\(\)$/);
  });
});
