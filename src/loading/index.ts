// The loader's one door: config.json first (fail fast), then the model's own preparation (its config, its
// device, its weight spec: loading knows no model), then the checkpoint streamed onto that device.
// Whatever fails or is aborted half-way, every GPU buffer made (and a device made for this load) is freed.
import type { WeightDType } from '../gpu/types';
import { abortError, raceAbort, throwIfAborted } from './http';
import { readCheckpoint } from './layouts';
import { openSource, warnerOf } from './sources';
import type { FileOptions, PretrainedSource, UploadedTensors, WeightSpec } from './types';
import { GpuUploader } from './upload';
import { clip } from '../json';
import { ImageGPTError } from '../errors';

export { loadPreprocessorConfig } from './sources';
export type {
  CpuTensor,
  FileOptions,
  GpuTensor,
  LoadProgress,
  LocalFiles,
  ModelCache,
  PretrainedSource,
  TensorSpec,
  UploadedTensors,
  WeightSpec,
} from './types';

/** What the model prepares from its config.json before any weight byte is read. */
export interface CheckpointTarget<M> {
  device: GPUDevice;
  /** The device was made for this load: it is destroyed if the load then fails or is aborted. */
  ownsDevice: boolean;
  spec: WeightSpec;
  /** Whatever else the model derived (its parsed config, tuning, …), handed back with the tensors. */
  model: M;
}

export interface CheckpointOptions extends FileOptions {
  /** How the spec's 'load' tensors are stored on the GPU. */
  dtype: WeightDType;
  /** Names the caller in messages, e.g. 'ImageGPT.fromPretrained'. */
  who: string;
}

export interface LoadedCheckpoint<M> extends CheckpointTarget<M> {
  tensors: UploadedTensors;
  /** Which layout the checkpoint had, and its weight files. */
  layout: string;
  files: string[];
}

/**
 * Reads config.json from any source, hands it to `prepare` (which parses it and gets a device; it frees a device
 * it made if it then fails itself), and streams the checkpoint's tensors onto that device as the spec says.
 * `prepare` is raced against the signal (a device request can stay pending); a device that arrives after the
 * abort is destroyed.
 */
export async function loadCheckpoint<M>(
  source: PretrainedSource,
  options: CheckpointOptions,
  prepare: (config: unknown) => Promise<CheckpointTarget<M>>,
): Promise<LoadedCheckpoint<M>> {
  const { signal, who } = options;
  throwIfAborted(signal);
  const files = await openSource(source, options);
  let uploader: GpuUploader | null = null;
  let target: CheckpointTarget<M> | null = null;
  try {
    const configJson = await files.json('config.json');
    if (configJson === null) throw new ImageGPTError('E_NOT_FOUND', `${who}: config.json was not found in ${clip(files.describe())} (${clip(files.where('config.json'))})`);
    throwIfAborted(signal);
    const prepared = prepare(configJson);
    prepared.then((t) => void (signal?.aborted && target !== t && t.ownsDevice && t.device.destroy()), () => {});
    target = await raceAbort(prepared, signal);
    throwIfAborted(signal);

    uploader = new GpuUploader(target.device, target.spec, options.dtype, { signal });
    const found = await readCheckpoint(files, uploader, options.onProgress, warnerOf(options));
    throwIfAborted(signal);
    const tensors = uploader.finish();
    uploader = null;
    try {
      await files.finish();
    } catch (e) {
      for (const b of tensors.buffers) b.destroy();
      throw e;
    }
    return { ...target, tensors, layout: found.layout, files: found.files };
  } catch (e) {
    uploader?.destroy();
    files.fail(e);
    if (target?.ownsDevice) target.device.destroy();
    if (signal?.aborted) throw abortError();
    throw e;
  }
}
