// A device with the adapter's largest limits and the optional features it offers, from any `GPU`
// (Dawn's in Node, navigator.gpu in a browser): the tests' and the benchmarks' device. No Node imports.
import { isCpuAdapter } from '../src/gpu/tuning';

export interface BenchDeviceOptions {
  /** Features to request where the adapter offers them (the others are left out, not an error). */
  optionalFeatures?: GPUFeatureName[];
}

export interface BenchDevice {
  device: GPUDevice;
  info: GPUAdapterInfo;
  /** Every feature the adapter offers. */
  adapterFeatures: string[];
  /** The optional features asked for that the device got. */
  features: GPUFeatureName[];
}

/** True for SwiftShader (Google's CPU Vulkan), which is what Dawn and Chromium find on a machine without a GPU. */
export function isSwiftShader(info: GPUAdapterInfo): boolean {
  return info.architecture === 'swiftshader' || /swiftshader/i.test(info.description ?? '');
}

/** True for Mesa's lavapipe (a CPU Vulkan on llvmpipe): Dawn reports vendor 'mesa', device and description 'llvmpipe…'. */
export function isLavapipe(info: GPUAdapterInfo): boolean {
  return /llvmpipe|lavapipe/i.test(`${info.device} ${info.description}`);
}

const describeAdapter = (info: GPUAdapterInfo): string =>
  `${info.vendor} / ${info.architecture} / ${info.description}${info.isFallbackAdapter ? ' (a fallback adapter)' : ''}`;

/**
 * Why an adapter is not the one asked for, or null: `wanted` names a CPU driver (IMAGEGPT_ADAPTER: 'swiftshader' or
 * 'lavapipe') the adapter must be; `realGpu` (IMAGEGPT_REAL_GPU=1) refuses every CPU adapter (isCpuAdapter).
 */
export function adapterProblem(info: GPUAdapterInfo, wanted: string | undefined, realGpu: boolean): string | null {
  if (realGpu && isCpuAdapter(info)) {
    return (
      `IMAGEGPT_REAL_GPU=1 but the adapter runs on the CPU (${describeAdapter(info)}): no real GPU was found. ` +
      "Check `vulkaninfo`, point VK_ICD_FILENAMES at the GPU driver's ICD (or unset it), and run again."
    );
  }
  const matches = wanted === 'swiftshader' ? isSwiftShader(info) : wanted === 'lavapipe' ? isLavapipe(info) : true;
  return matches ? null : `IMAGEGPT_ADAPTER=${wanted} but Dawn gave another adapter (${describeAdapter(info)})`;
}

export async function requestLargestDevice(gpu: GPU, options: BenchDeviceOptions = {}, noAdapter = 'No WebGPU adapter'): Promise<BenchDevice> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(noAdapter);
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
  return { device, info: adapter.info, adapterFeatures: [...adapter.features].map(String).sort(), features };
}
