// requestImageGptDevice (limits, optional features per adapter), the device's one pipeline cache, and the
// Readback helper (one-off reads, staged reads through a ring of staging buffers).
import { describe, it, expect } from 'vitest';
import { getTestDevice, testGpu, trackBuffers } from '../helpers/gpu';
import { isSwiftShader } from '../../scripts/node-webgpu';
import { featuresToRequest, requestImageGptDevice, type DeviceFeatureOptions } from '../../src/gpu/device';
import { Readback, readBuffer } from '../../src/gpu/readback';
import { PipelineCache } from '../../src/gpu/pipelines';
import { Kernels } from '../../src/gpu/kernels';
import { storageBuffer } from './harness';

const NEEDS = { maxBufferBytes: 1 << 20, maxBindingBytes: 1 << 20 };

class Stop extends Error {}

/** An adapter offering `features`, with a GPU's info (whose tuning asks for shader-f16 and subgroups); records what requestDevice is asked. */
function fakeGpu(features: string[], asked: GPUFeatureName[][], info = { vendor: 'nvidia', architecture: 'ampere' }): GPU {
  const adapter = {
    limits: { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 1 << 30 },
    info: { ...info, device: '', description: '' },
    features: new Set(features),
    async requestDevice(d?: GPUDeviceDescriptor): Promise<GPUDevice> {
      asked.push([...(d?.requiredFeatures ?? [])].sort());
      throw new Stop('stop: the features were recorded');
    },
  };
  return { requestAdapter: async () => adapter } as unknown as GPU;
}

async function askedFor(features: string[], options?: DeviceFeatureOptions, info?: { vendor: string; architecture: string }): Promise<GPUFeatureName[]> {
  const asked: GPUFeatureName[][] = [];
  await expect(requestImageGptDevice(fakeGpu(features, asked, info), NEEDS, { features: options })).rejects.toBeInstanceOf(Stop);
  expect(asked).toHaveLength(1);
  return asked[0];
}

describe('device features', () => {
  const ALL = ['shader-f16', 'subgroups', 'timestamp-query', 'texture-compression-bc'];

  it('asks for shader-f16 and subgroups where the adapter offers them, never where it does not; timestamp-query only when asked', async () => {
    expect(await askedFor(ALL)).toEqual(['shader-f16', 'subgroups']);
    expect(await askedFor(['subgroups', 'timestamp-query'])).toEqual(['subgroups']);
    expect(await askedFor(['shader-f16'])).toEqual(['shader-f16']);
    expect(await askedFor([])).toEqual([]);
    expect(await askedFor(ALL, { timestampQuery: true })).toEqual(['shader-f16', 'subgroups', 'timestamp-query']);
    expect(await askedFor(['shader-f16'], { timestampQuery: true, subgroups: true })).toEqual(['shader-f16']);
  });

  it('forced off: a feature set to false is not asked for, even where offered', async () => {
    expect(await askedFor(ALL, { subgroups: false })).toEqual(['shader-f16']);
    expect(await askedFor(ALL, { shaderF16: false, subgroups: false })).toEqual([]);
    expect(await askedFor(ALL, { shaderF16: false, timestampQuery: false })).toEqual(['subgroups']);
  });

  it('the defaults are the adapter tuning choices (SwiftShader and GPUs alike ask for both)', () => {
    const offer = { features: new Set(ALL) } as unknown as GPUAdapter;
    for (const info of [{ vendor: 'google', architecture: 'swiftshader' }, { vendor: 'apple', architecture: 'metal-3' }]) {
      expect(featuresToRequest({ ...offer, info: info as GPUAdapterInfo })).toEqual(['shader-f16', 'subgroups']);
    }
  });

  it('refuses unknown feature options and values that are not booleans', () => {
    const adapter = { features: new Set(ALL), info: { vendor: 'google', architecture: 'swiftshader' } } as unknown as GPUAdapter;
    expect(() => featuresToRequest(adapter, { subgroup: true } as never)).toThrow(
      'device features: unknown option "subgroup"; known options: shaderF16, subgroups, timestampQuery',
    );
    expect(() => featuresToRequest(adapter, { shaderF16: 'yes' } as never)).toThrow('device features: shaderF16 must be true or false, got "yes"');
  });

  it('on Dawn: the device gets what the adapter offers of shader-f16 and subgroups (SwiftShader: subgroups, not shader-f16)', async () => {
    const gpu = testGpu();
    const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' }))!;
    const got = await requestImageGptDevice(gpu, NEEDS);
    try {
      for (const f of ['shader-f16', 'subgroups'] as const) expect(got.device.features.has(f), f).toBe(adapter.features.has(f));
      expect(got.device.features.has('timestamp-query')).toBe(false);
      expect(got.features).toEqual(['shader-f16', 'subgroups'].filter((f) => adapter.features.has(f)));
      if (isSwiftShader(adapter.info)) {
        expect(got.device.features.has('subgroups')).toBe(true);
        expect(got.device.features.has('shader-f16')).toBe(false);
      }
    } finally {
      got.device.destroy();
    }
    const off = await requestImageGptDevice(gpu, NEEDS, { features: { subgroups: false, shaderF16: false, timestampQuery: true } });
    try {
      expect(off.device.features.has('subgroups')).toBe(false);
      expect(off.device.features.has('shader-f16')).toBe(false);
      expect(off.device.features.has('timestamp-query')).toBe(adapter.features.has('timestamp-query'));
    } finally {
      off.device.destroy();
    }
  });
});

describe('device, pipelines and readback', () => {
  it('reports WGSL that does not compile, naming the kernel, from ready()', async () => {
    const device = await getTestDevice();
    const cache = PipelineCache.forDevice(device);
    expect(PipelineCache.forDevice(device)).toBe(cache); // one cache per device
    cache.get('sample.wgsl/broken', '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }', 'main', {});
    await expect(cache.ready()).rejects.toThrow(/sample\.wgsl\/broken/);
    await expect(cache.ready()).resolves.toBeUndefined(); // each failure is reported once
  });

  it('rejects tunings the device cannot run', async () => {
    const device = await getTestDevice();
    expect(() => new Kernels(device, { normThreads: 48 })).toThrow(/normThreads 48 must be a power of two/);
    expect(() => new Kernels(device, { registerThreads: [64, 64] })).toThrow(/registerThreads = 4096 threads/);
  });

  it('gets a device with the limits asked for, and names a limit the adapter cannot give', async () => {
    const gpu = testGpu();
    const adapter = await gpu.requestAdapter();
    const maxBinding = adapter!.limits.maxStorageBufferBindingSize;
    // 200 MiB where the adapter offers it (SwiftShader: 1 GiB); WebGPU guarantees only 128 MiB (lavapipe's).
    const binding = Math.min(200 << 20, maxBinding);
    const { device, info } = await requestImageGptDevice(gpu, { maxBufferBytes: 200 << 20, maxBindingBytes: binding });
    expect(device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(binding);
    expect(device.limits.maxBufferSize).toBeGreaterThanOrEqual(200 << 20);
    expect(typeof info.vendor).toBe('string');
    device.destroy();
    await expect(requestImageGptDevice(gpu, { maxBufferBytes: 1 << 20, maxBindingBytes: maxBinding + 4 })).rejects.toThrow(
      new RegExp(`maxStorageBufferBindingSize: needed ${maxBinding + 4} bytes, the adapter gives at most ${maxBinding}`),
    );
  });

  it('read(): ranges through one staging buffer, concurrent reads included', async () => {
    const device = await getTestDevice();
    const data = Float32Array.from({ length: 1000 }, (_, i) => i * 0.5);
    const buffer = storageBuffer(device, data);
    const tracker = trackBuffers(device);
    try {
      const reader = new Readback(device, { label: 'readBuffer' });
      const [a, b, c] = await Promise.all([reader.read(buffer, 0, 4000), reader.read(buffer, 400, 40), reader.read(buffer, 3996, 4)]);
      expect(new Float32Array(a)).toEqual(data);
      expect(Array.from(new Float32Array(b))).toEqual(Array.from(data.subarray(100, 110)));
      expect(Array.from(new Float32Array(c))).toEqual([data[999]]);
      expect(tracker.created()).toBe(1); // made for the first (largest) read, reused by the others
      expect(() => reader.read(buffer, 2, 4)).toThrow('readBuffer: offset 2 and size 4 must be non-negative multiples of 4');
      expect(() => reader.read(buffer, 3996, 8)).toThrow(/bytes 3996…4004 are past the end/);
      reader.destroy();
      expect(tracker.live.size).toBe(0);
      await expect(reader.read(buffer, 0, 4)).rejects.toThrow(/used after destroy/);
    } finally {
      tracker.restore();
    }
    expect(Array.from(new Float32Array(await readBuffer(device, buffer, 8, 8)))).toEqual([1, 1.5]);
    buffer.destroy();
  });

  it('staged reads: copies ride on the caller own submit; a ring maps one read while the next is recorded; nothing made per read', async () => {
    const device = await getTestDevice();
    const data = Int32Array.from({ length: 64 }, (_, i) => 1000 + i);
    const source = storageBuffer(device, data);
    let accounted = 0;
    const tracker = trackBuffers(device);
    try {
      const ring = new Readback(device, { label: 'ring', slots: 2, bytes: 64, onAllocate: (d) => (accounted += d) });
      expect(tracker.created()).toBe(2);
      expect(accounted).toBe(128);
      expect(ring.gpuBytes).toBe(128);
      const pending: Promise<ArrayBuffer>[] = [];
      for (let i = 0; i < 4; i++) {
        if (i >= 2) await pending[i - 2]; // the oldest holds the buffer staged next
        const staged = ring.stage(32);
        const encoder = device.createCommandEncoder();
        staged.copy(encoder, source, i * 32, 0, 16); // two pieces, out of order
        staged.copy(encoder, source, i * 32 + 16, 16, 16);
        device.queue.submit([encoder.finish()]);
        pending.push(staged.map(32));
      }
      const got = (await Promise.all(pending)).map((b) => Array.from(new Int32Array(b)));
      expect(got).toEqual([0, 1, 2, 3].map((i) => Array.from(data.subarray(i * 8, i * 8 + 8))));
      expect(tracker.created()).toBe(2); // reads within the size made up front make nothing

      // A buffer still being mapped cannot be staged again; a superseded staged read says so.
      const a = ring.stage(16);
      const encoder = device.createCommandEncoder();
      a.copy(encoder, source, 0, 0, 16);
      device.queue.submit([encoder.finish()]);
      const mapping = a.map();
      ring.stage(16);
      expect(() => ring.stage(16)).toThrow(/ring: staging buffer 1 of 2 is still being mapped/);
      expect(Array.from(new Int32Array(await mapping)).slice(0, 4)).toEqual(Array.from(data.subarray(0, 4)));
      const b = ring.stage(16);
      ring.stage(16);
      const c = ring.stage(16); // takes b's buffer
      await expect(b.map()).rejects.toThrow(/ring: map a staged read whose buffer a newer stage\(\) took/);
      expect(() => c.copy(device.createCommandEncoder(), source, 0, 60, 8)).toThrow(/overruns the 64-byte staging buffer/);
      expect(() => c.copy(device.createCommandEncoder(), source, 250, 0, 8)).toThrow(/multiples of 4/);

      // Growing replaces the buffer and keeps the accounting; destroy reports every byte freed.
      ring.stage(1000);
      expect(ring.gpuBytes).toBe(64 + 1008);
      expect(accounted).toBe(ring.gpuBytes);
      ring.destroy();
      expect(accounted).toBe(0);
      expect(tracker.live.size).toBe(0);
    } finally {
      tracker.restore();
      source.destroy();
    }
  });
});
