// Getting an adapter and a device with the limits the model needs (browsers default to 128 MiB
// per storage binding and 256 MiB per buffer; larger models need more), and the optional features
// the kernels can use where this adapter offers them.
import { tuningFor } from './tuning';
import { describeValue } from '../json';
import { badInput, ImageGPTError } from '../errors';

export interface DeviceNeeds {
  /** The largest single buffer (bytes). */
  maxBufferBytes: number;
  /** The largest storage-buffer binding (bytes). */
  maxBindingBytes: number;
}

/**
 * Which optional features to ask for. A feature is only ever asked for where the adapter offers it (never an
 * error where it does not: the kernels fall back to their portable path). false: never asked for.
 */
export interface DeviceFeatureOptions {
  /** `shader-f16` (f16 weights read natively). Default: the adapter's tuning (tuningFor(adapter.info).shaderF16). */
  shaderF16?: boolean;
  /** `subgroups` (the norm's and decode attention's reductions; no matmul). Default: the adapter's tuning (tuningFor(adapter.info).subgroups). */
  subgroups?: boolean;
  /** `timestamp-query` (GPU time per kernel, for benchmarks). Default false. */
  timestampQuery?: boolean;
}

export const DEVICE_FEATURE_OPTIONS: readonly (keyof DeviceFeatureOptions)[] = ['shaderF16', 'subgroups', 'timestampQuery'];

const FEATURE_NAMES: Record<keyof DeviceFeatureOptions, GPUFeatureName> = {
  shaderF16: 'shader-f16',
  subgroups: 'subgroups',
  timestampQuery: 'timestamp-query',
};

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /**
   * The least that will do. With it, `needs` is what is wanted and is capped at what the adapter offers;
   * only the minimum beyond the adapter's limits is an error. Without it, `needs` is the minimum.
   */
  minimum?: DeviceNeeds;
  /** Optional features to ask for where the adapter offers them (see DeviceFeatureOptions for the defaults). */
  features?: DeviceFeatureOptions;
}

export interface ImageGptDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: GPUAdapterInfo;
  /** The optional features asked for (each offered by the adapter); the device has them. */
  features: GPUFeatureName[];
}

/** The adapter cannot give a limit the caller needs (as opposed to a device request that failed): E_DEVICE_LIMIT. */
export class AdapterLimitError extends ImageGPTError {
  constructor(message: string) {
    super('E_DEVICE_LIMIT', message);
  }
}

/** The optional features to ask this adapter for: those wanted (options, else the adapter's tuning) that it offers. */
export function featuresToRequest(adapter: Pick<GPUAdapter, 'features' | 'info'>, wanted: DeviceFeatureOptions = {}): GPUFeatureName[] {
  for (const key of Object.keys(wanted)) {
    if (!(DEVICE_FEATURE_OPTIONS as readonly string[]).includes(key)) {
      throw badInput(`device features: unknown option ${describeValue(key)}; known options: ${DEVICE_FEATURE_OPTIONS.join(', ')}`);
    }
    const v: unknown = wanted[key as keyof DeviceFeatureOptions];
    if (v !== undefined && typeof v !== 'boolean') throw badInput(`device features: ${key} must be true or false, got ${describeValue(v)}`);
  }
  const tuning = tuningFor(adapter.info);
  const ask: Record<keyof DeviceFeatureOptions, boolean> = {
    shaderF16: wanted.shaderF16 ?? tuning.shaderF16,
    subgroups: wanted.subgroups ?? tuning.subgroups,
    timestampQuery: wanted.timestampQuery ?? false,
  };
  return DEVICE_FEATURE_OPTIONS.filter((k) => ask[k] && adapter.features.has(FEATURE_NAMES[k])).map((k) => FEATURE_NAMES[k]);
}

export async function requestImageGptDevice(gpu: GPU, needs: DeviceNeeds, opts: DeviceOptions = {}): Promise<ImageGptDevice> {
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new ImageGPTError('E_UNSUPPORTED', 'WebGPU: no adapter available (is WebGPU enabled, and is this a secure context?)');
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
  const requiredFeatures = featuresToRequest(adapter, opts.features);
  const device = await adapter.requestDevice({ label: 'imagegpt', requiredLimits, requiredFeatures });
  return { device, adapter, info: adapter.info, features: requiredFeatures };
}
