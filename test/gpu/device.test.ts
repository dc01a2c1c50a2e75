// requestImageGptDevice (limits) and the reused-staging-buffer readback.
import { describe, it, expect } from 'vitest';
import { getTestDevice, testGpu } from '../helpers/gpu';
import { requestImageGptDevice } from '../../src/gpu/device';
import { BufferReader, readBuffer } from '../../src/gpu/readback';
import { PipelineCache } from '../../src/gpu/pipelines';
import { Kernels } from '../../src/gpu/kernels';
import { storageBuffer } from './harness';

describe('device, pipelines and readback', () => {
  it('reports WGSL that does not compile, naming the kernel, from ready()', async () => {
    const device = await getTestDevice();
    const cache = new PipelineCache(device);
    cache.get('broken.wgsl', '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }', 'main', {});
    await expect(cache.ready()).rejects.toThrow(/broken\.wgsl/);
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
    const { device, info } = await requestImageGptDevice(gpu, { maxBufferBytes: 200 << 20, maxBindingBytes: 200 << 20 });
    expect(device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(200 << 20);
    expect(device.limits.maxBufferSize).toBeGreaterThanOrEqual(200 << 20);
    expect(typeof info.vendor).toBe('string');
    device.destroy();
    await expect(requestImageGptDevice(gpu, { maxBufferBytes: 1 << 20, maxBindingBytes: maxBinding + 4 })).rejects.toThrow(
      new RegExp(`maxStorageBufferBindingSize: needed ${maxBinding + 4} bytes, the adapter gives at most ${maxBinding}`),
    );
  });

  it('reads ranges back through one staging buffer, concurrent reads included', async () => {
    const device = await getTestDevice();
    const data = Float32Array.from({ length: 1000 }, (_, i) => i * 0.5);
    const buffer = storageBuffer(device, data);
    const reader = new BufferReader(device);
    const [a, b, c] = await Promise.all([reader.read(buffer, 0, 4000), reader.read(buffer, 400, 40), reader.read(buffer, 3996, 4)]);
    expect(new Float32Array(a)).toEqual(data);
    expect(Array.from(new Float32Array(b))).toEqual(Array.from(data.subarray(100, 110)));
    expect(Array.from(new Float32Array(c))).toEqual([data[999]]);
    expect(() => reader.read(buffer, 2, 4)).toThrow(/multiples of 4/);
    expect(() => reader.read(buffer, 3996, 8)).toThrow(/past the end/);
    reader.destroy();
    expect(Array.from(new Float32Array(await readBuffer(device, buffer, 8, 8)))).toEqual([1, 1.5]);
  });
});
