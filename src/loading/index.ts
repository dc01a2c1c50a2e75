// The loader: config.json first (fail fast), then the device, then the checkpoint streamed onto it.
// Whatever fails or is aborted half-way, every GPU buffer made (and a device made here) is freed.
import { AdapterLimitError, requestImageGptDevice } from '../gpu/device';
import type { WeightDType } from '../gpu/types';
import { checkTuning, checkTuningOption, tuningFor, type KernelTuning } from '../gpu/tuning';
import { checkOptionKeys } from '../model/session';
import { parseImageGPTConfig, type ImageGPTConfig } from '../model/config';
import { DEFAULT_BATCH_SIZE, modelLimitNeeds } from '../model/limits';
import type { ModelWeights } from '../model/weights';
import { abortError, raceAbort, throwIfAborted } from './http';
import { readCheckpoint } from './layouts';
import { openSource, warnerOf } from './sources';
import type { FileOptions, PretrainedSource } from './types';
import { GpuUploader } from './upload';
import { clip, describeValue } from '../json';

export { loadPreprocessorConfig } from './sources';

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
  const resolved: KernelTuning = { ...tuningFor(info) };
  for (const [key, value] of Object.entries(tuning ?? {})) if (value !== undefined) Object.assign(resolved, { [key]: value });
  try {
    checkTuning(resolved, device.limits);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
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
    throw new Error(
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
    throw new Error(`${WHO}: this model does not fit this GPU even for a batch of 1 at full length (${e.message})`, { cause: e });
  }
}

/** Loads config and weights from any source onto a device (given, or requested with the limits the model needs). */
export async function loadPretrained(source: PretrainedSource, options: LoadOptions = {}): Promise<LoadedModel> {
  checkOptionKeys(WHO, options, Object.keys(LOAD_OPTION_KEYS));
  const dtype = options.dtype ?? 'f16';
  if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`${WHO}: dtype must be 'f32' or 'f16', got ${describeValue(dtype)}`);
  const tuningOption = checkTuningOption(WHO, options.tuning);
  const { signal } = options;
  throwIfAborted(signal);
  const files = await openSource(source, options);
  let uploader: GpuUploader | null = null;
  let ownDevice: GPUDevice | null = null;
  try {
    const configJson = await files.json('config.json');
    if (configJson === null) throw new Error(`${WHO}: config.json was not found in ${clip(files.describe())} (${clip(files.where('config.json'))})`);
    const config = parseImageGPTConfig(configJson);
    throwIfAborted(signal);

    let device: GPUDevice;
    let adapterInfo: GPUAdapterInfo | undefined;
    if (options.device) {
      device = options.device;
    } else {
      // requestAdapter/requestDevice can stay pending (a lost GPU process): raced against the signal; a
      // device that arrives after the abort is destroyed.
      const requested = requestDevice(config, dtype, tuningOption);
      requested.then((d) => void (signal?.aborted && ownDevice !== d.device && d.device.destroy()), () => {});
      ({ device, info: adapterInfo } = await raceAbort(requested, signal));
      ownDevice = device;
    }
    throwIfAborted(signal);
    const tuning = resolveTuning(WHO, device, adapterInfo, tuningOption);

    uploader = new GpuUploader(device, config, dtype, { signal });
    const found = await readCheckpoint(files, uploader, options.onProgress, warnerOf(options));
    throwIfAborted(signal);
    const weights = uploader.finish();
    uploader = null;
    try {
      await files.finish();
    } catch (e) {
      for (const b of weights.buffers) b.destroy();
      throw e;
    }
    return { config, device, adapterInfo, tuning, weights, layout: found.layout, files: found.files };
  } catch (e) {
    uploader?.destroy();
    files.fail(e);
    ownDevice?.destroy();
    if (signal?.aborted) throw abortError();
    throw e;
  }
}
