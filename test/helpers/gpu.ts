// One WebGPU device per test file, from Dawn (npm `webgpu`). A missing adapter is a
// failure, never a skip: the GPU tests are the point of this project.
import { createNodeDevice, nodeGpu } from '../../scripts/node-webgpu';

export { createNodeDevice };

let devicePromise: Promise<GPUDevice> | null = null;

/** Dawn's GPU object (one per process, kept alive: see scripts/node-webgpu.ts). */
export const testGpu: () => GPU = nodeGpu;

/**
 * Optional features the shared device must have: none by default (the portable kernels); the lavapipe pass of
 * scripts/run-tests.mjs sets IMAGEGPT_TEST_FEATURES=shader-f16,subgroups, so every test on this device, the model's
 * fixture tests included, runs the native-f16 and subgroup kernels written for real GPUs. One missing is a failure.
 */
const TEST_FEATURES = (process.env.IMAGEGPT_TEST_FEATURES ?? '').split(',').filter(Boolean) as GPUFeatureName[];

export async function getTestDevice(): Promise<GPUDevice> {
  devicePromise ??= createNodeDevice({ optionalFeatures: TEST_FEATURES }).then((d) => {
    const missing = TEST_FEATURES.filter((f) => !d.features.includes(f));
    if (missing.length > 0) {
      d.device.destroy();
      throw new Error(`IMAGEGPT_TEST_FEATURES asks for ${missing.join(', ')}, which this adapter (${d.info.description}) does not offer`);
    }
    return d.device;
  });
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
