// WebGPU in Node (Dawn, npm `webgpu`) for tests and benchmarks: one long-lived instance and a device
// with the adapter's largest limits. Shared by test/helpers/gpu.ts and bench/ (neither imports the other).
import { create, globals } from 'webgpu';

// Dawn's instance must outlive every adapter and device made from it: when the GC collects it,
// SwiftShader's threads crash the process (futex / std::system_error aborts). Keep it forever.
let gpuInstance: GPU | null = null;

/** Dawn's `navigator.gpu` equivalent (made once; also puts GPUBufferUsage & co. on globalThis). */
export function nodeGpu(): GPU {
  Object.assign(globalThis, globals);
  gpuInstance ??= create([]) as unknown as GPU;
  return gpuInstance;
}

export interface NodeDeviceOptions {
  /** Features to request where the adapter offers them (the others are left out, not an error). */
  optionalFeatures?: GPUFeatureName[];
}

export interface NodeDevice {
  device: GPUDevice;
  info: GPUAdapterInfo;
  /** Every feature the adapter offers. */
  adapterFeatures: string[];
  /** The optional features asked for that the device got. */
  features: GPUFeatureName[];
}

/** True for SwiftShader (Google's CPU Vulkan), which is what Dawn finds on a machine without a GPU. */
export function isSwiftShader(info: GPUAdapterInfo): boolean {
  return info.architecture === 'swiftshader' || /swiftshader/i.test(info.description ?? '');
}

/** A Dawn device with the adapter's largest limits (tests and benchmarks), and the adapter's info. */
export async function createNodeDevice(options: NodeDeviceOptions = {}): Promise<NodeDevice> {
  const adapter = await nodeGpu().requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error(
      'No WebGPU adapter in Node (Dawn). Run through `npm test` / `npm run bench`, which point Dawn at SwiftShader ' +
        "(install Debian's chromium), or set VK_ICD_FILENAMES to a Vulkan ICD.",
    );
  }
  const l = adapter.limits;
  const features = (options.optionalFeatures ?? []).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    },
  });
  device.addEventListener('uncapturederror', (e) => {
    console.error('WebGPU uncaptured error:', (e as GPUUncapturedErrorEvent).error.message);
  });
  return { device, info: adapter.info, adapterFeatures: [...adapter.features].sort(), features };
}
