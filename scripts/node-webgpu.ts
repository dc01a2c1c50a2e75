// WebGPU in Node (Dawn, npm `webgpu`) for tests and benchmarks: one long-lived instance and a device
// with the adapter's largest limits. Shared by test/helpers/gpu.ts and bench/ (neither imports the other).
import { create, globals } from 'webgpu';
import { requestLargestDevice, type BenchDevice, type BenchDeviceOptions } from './webgpu-device';

export { isSwiftShader } from './webgpu-device';

// Dawn's instance must outlive every adapter and device made from it: when the GC collects it,
// SwiftShader's threads crash the process (futex / std::system_error aborts). Keep it forever.
let gpuInstance: GPU | null = null;

/** Dawn's `navigator.gpu` equivalent (made once; also puts GPUBufferUsage & co. on globalThis). */
export function nodeGpu(): GPU {
  Object.assign(globalThis, globals);
  // Dawn rounds timestamps down to 65.536 µs by default (a browser's timing-attack guard): useless for
  // kernels of a few µs. Chromium's --enable-webgpu-developer-features does the same as this flag.
  gpuInstance ??= create(['disable-dawn-features=timestamp_quantization']) as unknown as GPU;
  return gpuInstance;
}

/** A Dawn device with the adapter's largest limits (tests and benchmarks), and the adapter's info. */
export function createNodeDevice(options: BenchDeviceOptions = {}): Promise<BenchDevice> {
  return requestLargestDevice(
    nodeGpu(),
    options,
    'No WebGPU adapter in Node (Dawn). Run through `npm test` / `npm run bench`, which point Dawn at SwiftShader ' +
      "(install Debian's chromium), or set VK_ICD_FILENAMES to a Vulkan ICD.",
  );
}
