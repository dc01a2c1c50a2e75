// Which adapters get the CPU tuning table, and which ones IMAGEGPT_REAL_GPU / IMAGEGPT_ADAPTER refuse: decided from
// adapter info alone (no device needed), here from what Dawn reports for SwiftShader and lavapipe (Mesa 25.0.7).
import { describe, it, expect } from 'vitest';
import { isCpuAdapter, tuningFor, SWIFTSHADER_TUNING, GPU_TUNING } from '../../src/gpu/tuning';
import { samplerWorkgroupSizeFor } from '../../src/gpu/sampler';
import { adapterProblem } from '../../scripts/webgpu-device';

const info = (fields: Partial<GPUAdapterInfo>): GPUAdapterInfo =>
  ({ vendor: '', architecture: '', device: '', description: '', ...fields }) as GPUAdapterInfo;

const SWIFTSHADER = info({ vendor: 'google', architecture: 'swiftshader', device: 'swiftshader-device-subzero-', description: 'SwiftShader driver 5.0.0', isFallbackAdapter: true });
const LAVAPIPE = info({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1', isFallbackAdapter: true });
const NVIDIA = info({ vendor: 'nvidia', architecture: 'hopper', isFallbackAdapter: false });

describe('CPU adapters', () => {
  it('SwiftShader and lavapipe are CPU adapters, by isFallbackAdapter or (where it is missing) by driver name', () => {
    expect(isCpuAdapter(SWIFTSHADER)).toBe(true);
    expect(isCpuAdapter(LAVAPIPE)).toBe(true);
    expect(isCpuAdapter(NVIDIA)).toBe(false);
    // Browsers before GPUAdapterInfo.isFallbackAdapter: the name decides.
    expect(isCpuAdapter({ ...SWIFTSHADER, isFallbackAdapter: undefined })).toBe(true);
    expect(isCpuAdapter({ ...LAVAPIPE, isFallbackAdapter: undefined })).toBe(true);
    expect(isCpuAdapter(info({ vendor: 'google', architecture: 'swiftshader' }))).toBe(true);
    expect(isCpuAdapter(info({ vendor: 'apple', architecture: 'metal-3' }))).toBe(false);
    // Any other fallback adapter is a CPU one too, whatever its vendor says.
    expect(isCpuAdapter(info({ vendor: 'nvidia', architecture: 'ampere', isFallbackAdapter: true }))).toBe(true);
  });

  it('tuning by adapter kind, not vendor: both CPUs get the CPU table, GPUs the GPU table, no info the CPU table', () => {
    expect(tuningFor(SWIFTSHADER)).toEqual(SWIFTSHADER_TUNING);
    expect(tuningFor(LAVAPIPE)).toEqual(SWIFTSHADER_TUNING);
    expect(tuningFor(NVIDIA)).toEqual(GPU_TUNING);
    expect(tuningFor(info({ vendor: 'google', architecture: 'some-gpu' }))).toEqual(GPU_TUNING); // vendor alone decides nothing
    expect(tuningFor(undefined)).toEqual(SWIFTSHADER_TUNING);
    expect(tuningFor(LAVAPIPE)).not.toBe(SWIFTSHADER_TUNING); // a copy: callers may change it
    expect([samplerWorkgroupSizeFor(SWIFTSHADER), samplerWorkgroupSizeFor(LAVAPIPE), samplerWorkgroupSizeFor(NVIDIA)]).toEqual([16, 16, 64]);
  });

  it('IMAGEGPT_REAL_GPU=1 refuses every CPU adapter, naming it; IMAGEGPT_ADAPTER must get the driver it names', () => {
    for (const cpu of [SWIFTSHADER, LAVAPIPE]) {
      expect(adapterProblem(cpu, undefined, true)).toMatch(/^IMAGEGPT_REAL_GPU=1 but the adapter runs on the CPU \(.+\(a fallback adapter\)\): no real GPU was found/);
    }
    expect(adapterProblem(LAVAPIPE, undefined, true)).toContain('mesa / software / llvmpipe: Mesa 25.0.7');
    expect(adapterProblem(NVIDIA, undefined, true)).toBeNull();
    expect(adapterProblem(SWIFTSHADER, 'swiftshader', false)).toBeNull();
    expect(adapterProblem(LAVAPIPE, 'lavapipe', false)).toBeNull();
    expect(adapterProblem(SWIFTSHADER, 'lavapipe', false)).toMatch(/^IMAGEGPT_ADAPTER=lavapipe but Dawn gave another adapter \(google \/ swiftshader/);
    expect(adapterProblem(LAVAPIPE, 'swiftshader', false)).toMatch(/^IMAGEGPT_ADAPTER=swiftshader but Dawn gave another adapter \(mesa/);
    expect(adapterProblem(NVIDIA, undefined, false)).toBeNull();
  });
});
