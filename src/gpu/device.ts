// Getting an adapter and a device with the limits the model needs (browsers default to 128 MiB
// per storage binding and 256 MiB per buffer; larger models need more).

export interface DeviceNeeds {
  /** The largest single buffer (bytes). */
  maxBufferBytes: number;
  /** The largest storage-buffer binding (bytes). */
  maxBindingBytes: number;
}

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /**
   * The least that will do. With it, `needs` is what is wanted and is capped at what the adapter offers;
   * only the minimum beyond the adapter's limits is an error. Without it, `needs` is the minimum.
   */
  minimum?: DeviceNeeds;
}

export interface ImageGptDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: GPUAdapterInfo;
}

/** The adapter cannot give a limit the caller needs (as opposed to a device request that failed). */
export class AdapterLimitError extends Error {
  override name = 'AdapterLimitError';
}

export async function requestImageGptDevice(gpu: GPU, needs: DeviceNeeds, opts: DeviceOptions = {}): Promise<ImageGptDevice> {
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error('WebGPU: no adapter available (is WebGPU enabled, and is this a secure context?)');
  const available = adapter.limits;
  const minimum = opts.minimum ?? needs;
  const wanted: [keyof GPUSupportedLimits & string, number, number][] = [
    ['maxBufferSize', needs.maxBufferBytes, minimum.maxBufferBytes],
    ['maxStorageBufferBindingSize', needs.maxBindingBytes, minimum.maxBindingBytes],
  ];
  const requiredLimits: Record<string, number> = {};
  for (const [name, want, need] of wanted) {
    const have = available[name] as number;
    if (need > have) {
      throw new AdapterLimitError(`WebGPU adapter limit ${name}: needed ${need} bytes, the adapter gives at most ${have}`);
    }
    requiredLimits[name] = Math.max(Math.min(Math.max(want, need), have), 1);
  }
  const device = await adapter.requestDevice({ label: 'imagegpt', requiredLimits });
  return { device, adapter, info: adapter.info };
}
