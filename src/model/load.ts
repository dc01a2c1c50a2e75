// ImageGPT's side of loading: the load options, the device request sized by the config, and the tuning,
// each resolved once here; the generic loader (src/loading) reads the files and uploads the tensors this
// model's weight spec names, and the weights struct is assembled from them.
import { ImageGPTError, badInput } from '../errors';
import { AdapterLimitError, requestImageGptDevice } from '../gpu/device';
import type { WeightDType } from '../gpu/types';
import { checkTuning, checkTuningOption, mergeTuning, tuningFor, type KernelTuning } from '../gpu/tuning';
import { loadCheckpoint, type FileOptions, type PretrainedSource } from '../loading/index';
import { checkOptionKeys } from '../options';
import { describeValue } from '../json';
import { parseImageGPTConfig, type ImageGPTConfig } from './config';
import { DEFAULT_BATCH_SIZE, modelLimitNeeds } from './limits';
import { assembleWeights, imageGptWeightSpec, type ModelWeights } from './weights';

/** fromPretrained's options: where files come from, and how the weights go on the GPU. */
export type LoadOptions = FileOptions & {
  /** The device to use; without it one is requested from `navigator.gpu` with the limits the model needs. */
  device?: GPUDevice;
  /** How weights are stored on the GPU: 'f32', or 'f16' (half the memory; packed in u32, no shader-f16 needed). Default 'f16'. */
  dtype?: WeightDType;
  /**
   * Kernel launch choices over the adapter's defaults (`model.tuning` shows the result), e.g. `{ subgroups: false }`
   * to keep the portable path. Checked before anything is fetched (field names and types), and against the device's
   * limits before the weights are uploaded. `shaderF16` / `subgroups` false also keep a device requested here from
   * asking for that feature.
   */
  tuning?: Partial<KernelTuning>;
};

/** Every LoadOptions key (the type makes this list complete): any other key is refused. */
const LOAD_OPTION_KEYS: { [K in keyof Required<LoadOptions>]: true } = {
  host: true,
  revision: true,
  cache: true,
  fetch: true,
  signal: true,
  onProgress: true,
  onWarning: true,
  device: true,
  dtype: true,
  tuning: true,
};

/** The tuning a model on `device` runs with: the adapter's defaults, then `tuning`, checked against the device's limits. */
export function resolveTuning(what: string, device: GPUDevice, adapterInfo: GPUAdapterInfo | undefined, tuning: Partial<KernelTuning> | undefined): KernelTuning {
  // Browsers without device.adapterInfo still get the adapter's tuning when the device was requested here.
  const info = adapterInfo ?? (device.adapterInfo as GPUAdapterInfo | undefined);
  const resolved = mergeTuning(tuningFor(info), tuning); // expands the deprecated `fuse` shorthand
  try {
    checkTuning(resolved, device.limits);
  } catch (e) {
    throw new ImageGPTError('E_DEVICE_LIMIT', `${what}: ${(e as Error).message}`, { cause: e });
  }
  return resolved;
}

export interface LoadedModel {
  config: ImageGPTConfig;
  device: GPUDevice;
  /** Present when the device was requested here (its tuning is chosen from it). */
  adapterInfo?: GPUAdapterInfo;
  /** The kernels' tuning: the adapter's defaults with the `tuning` option over them, checked against the device. */
  tuning: KernelTuning;
  weights: ModelWeights;
  /** Which layout the checkpoint had, and its weight files. */
  layout: string;
  files: string[];
}

const WHO = 'ImageGPT.fromPretrained';

async function requestDevice(config: ImageGPTConfig, dtype: WeightDType, tuning: Partial<KernelTuning> | undefined): Promise<{ device: GPUDevice; info: GPUAdapterInfo }> {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) {
    throw new ImageGPTError(
      'E_UNSUPPORTED',
      `${WHO}: WebGPU is not available (navigator.gpu is undefined). Use Chrome/Edge 113+, ` +
        'Safari 26+, or Firefox 141+ (Windows); or pass { device }.',
    );
  }
  const use = { maxLength: config.n_positions, dtype };
  const wanted = modelLimitNeeds(config, { ...use, batchSize: DEFAULT_BATCH_SIZE });
  const minimum = modelLimitNeeds(config, { ...use, batchSize: 1 });
  try {
    return await requestImageGptDevice(
      gpu,
      { maxBufferBytes: wanted.maxBufferSize, maxBindingBytes: wanted.maxStorageBufferBindingSize },
      {
        minimum: { maxBufferBytes: minimum.maxBufferSize, maxBindingBytes: minimum.maxStorageBufferBindingSize },
        // Optional features as the tuning asks (default: the adapter's own tuning), where the adapter offers them.
        features: { shaderF16: tuning?.shaderF16, subgroups: tuning?.subgroups },
      },
    );
  } catch (e) {
    if (!(e instanceof AdapterLimitError)) throw e; // no adapter, or the device request itself failed: as it is
    throw new ImageGPTError('E_DEVICE_LIMIT', `${WHO}: this model does not fit this GPU even for a batch of 1 at full length (${e.message})`, { cause: e });
  }
}

/** Loads config and weights from any source onto a device (given, or requested with the limits the model needs). */
export async function loadPretrained(source: PretrainedSource, options: LoadOptions = {}): Promise<LoadedModel> {
  checkOptionKeys(WHO, options, Object.keys(LOAD_OPTION_KEYS));
  const dtype = options.dtype ?? 'f16';
  if (dtype !== 'f32' && dtype !== 'f16') throw badInput(`${WHO}: dtype must be 'f32' or 'f16', got ${describeValue(dtype)}`);
  const tuningOption = checkTuningOption(WHO, options.tuning);
  const given = options.device;
  const loaded = await loadCheckpoint(source, { ...options, dtype, who: WHO }, async (json) => {
    const config = parseImageGPTConfig(json);
    const { device, info: adapterInfo } = given ? { device: given, info: undefined } : await requestDevice(config, dtype, tuningOption);
    let tuning: KernelTuning;
    try {
      tuning = resolveTuning(WHO, device, adapterInfo, tuningOption);
    } catch (e) {
      if (!given) device.destroy();
      throw e;
    }
    return { device, ownsDevice: !given, spec: imageGptWeightSpec(config), model: { config, adapterInfo, tuning } };
  });
  const { config, adapterInfo, tuning } = loaded.model;
  const weights = assembleWeights(config, dtype, loaded.tensors);
  return { config, device: loaded.device, adapterInfo, tuning, weights, layout: loaded.layout, files: loaded.files };
}
