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

/** A Dawn device with the adapter's largest limits (tests and benchmarks), and the adapter's info. */
export async function createNodeDevice(): Promise<{ device: GPUDevice; info: GPUAdapterInfo }> {
  const adapter = await testGpu().requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error(
      'No WebGPU adapter in Node (Dawn). Run through `npm test` / `npm run bench`, which point Dawn at SwiftShader ' +
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
  return { device, info: adapter.info };
}

export async function getTestDevice(): Promise<GPUDevice> {
  devicePromise ??= createNodeDevice().then((d) => d.device);
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

/** Counts the GPU buffers a device makes (`created`) and those not destroyed yet (`live`); `restore` undoes the wrap. */
export function trackBuffers(device: GPUDevice): { live: Set<GPUBuffer>; created: () => number; restore: () => void } {
  const live = new Set<GPUBuffer>();
  let created = 0;
  const original = device.createBuffer;
  device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
    const buffer = original.call(device, descriptor);
    created++;
    live.add(buffer);
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      live.delete(buffer);
      destroy();
    };
    return buffer;
  };
  return { live, created: () => created, restore: () => void (device.createBuffer = original) };
}
