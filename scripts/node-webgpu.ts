// WebGPU in Node (Dawn, npm `webgpu`) for tests and benchmarks: one long-lived instance and a device
// with the adapter's largest limits. Shared by test/helpers/gpu.ts and bench/ (neither imports the other).
import { create, globals } from 'webgpu';
import { adapterProblem, requestLargestDevice, type BenchDevice, type BenchDeviceOptions } from './webgpu-device';

export { isSwiftShader, isLavapipe, adapterProblem } from './webgpu-device';

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

/**
 * A Dawn device with the adapter's largest limits (tests and benchmarks), and the adapter's info. Refuses an adapter
 * other than the one the environment asks for: IMAGEGPT_ADAPTER=swiftshader|lavapipe (set by webgpu-env.mjs) must
 * get that driver, and IMAGEGPT_REAL_GPU=1 any adapter but a CPU one (SwiftShader, lavapipe or another fallback).
 */
export async function createNodeDevice(options: BenchDeviceOptions = {}): Promise<BenchDevice> {
  const wanted = process.env.IMAGEGPT_ADAPTER;
  const noAdapter =
    wanted === 'lavapipe'
      ? "No WebGPU adapter in Node (Dawn) from lavapipe: Dawn needs Mesa ≥ 25 (Debian bookworm-backports' mesa-vulkan-drivers; " +
        "Debian 12's 22.3 gives no adapter)."
      : 'No WebGPU adapter in Node (Dawn). Run through `npm test` / `npm run bench`, which point Dawn at SwiftShader ' +
        "(install Debian's chromium), or set VK_ICD_FILENAMES to a Vulkan ICD.";
  const got = await requestLargestDevice(nodeGpu(), options, noAdapter);
  const problem = adapterProblem(got.info, wanted, process.env.IMAGEGPT_REAL_GPU === '1');
  if (problem) {
    got.device.destroy();
    throw new Error(problem);
  }
  return got;
}
