// One WebGPU device per test file, from Dawn (npm `webgpu`). A missing adapter is a
// failure, never a skip: the GPU tests are the point of this project.
import { create, globals } from 'webgpu';

let devicePromise: Promise<GPUDevice> | null = null;
// Dawn's instance must outlive every adapter and device made from it: when the GC collects it,
// SwiftShader's threads crash the process (futex / std::system_error aborts). Keep it forever.
let gpuInstance: GPU | null = null;

export function testGpu(): GPU {
  Object.assign(globalThis, globals);
  gpuInstance ??= create([]) as unknown as GPU;
  return gpuInstance;
}

export async function getTestDevice(): Promise<GPUDevice> {
  if (!devicePromise) {
    devicePromise = (async () => {
      const gpu = testGpu();
      const adapter = await gpu.requestAdapter();
      if (!adapter) {
        throw new Error(
          'No WebGPU adapter in Node (Dawn). Run the tests with `npm test`, which points Dawn at SwiftShader ' +
            "(install Debian's chromium), or set VK_ICD_FILENAMES to a Vulkan ICD.",
        );
      }
      const l = adapter.limits;
      const device = await adapter.requestDevice({
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
      return device;
    })();
  }
  return devicePromise;
}

/** Waits for the GPU and destroys the device: Dawn on SwiftShader can abort at process exit otherwise. */
export async function releaseTestDevice(): Promise<void> {
  if (!devicePromise) return;
  const device = await devicePromise;
  devicePromise = null;
  await device.queue.onSubmittedWorkDone();
  device.destroy();
}
