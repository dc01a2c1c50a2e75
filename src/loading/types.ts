// The loading module's contracts: what a user passes to fromPretrained (sources, options, progress, cache)
// and the internal seams between its parts (byte cursors, checkpoint readers, the tensor sink that uploads).
// Loading knows files and formats; the model (src/model) gets tensors from it and knows no URL.
import type { SafetensorsDType } from '../safetensors';

// ───────────────────────────── public ─────────────────────────────

/**
 * Where a model comes from:
 * - a hub id, `'openai/imagegpt-small'` (files at `${host}/${id}/resolve/${revision}/${file}`);
 * - a base URL (string starting with a scheme, `/`, `./` or `../`, or a `URL`) holding the files;
 * - `{ config, weights }`: the parsed config.json and the bytes of a `model.safetensors` or a
 *   `pytorch_model.bin` (told apart by their content);
 * - local files of a model folder: a `FileList`, `File[]` or `Map<string, Blob>` (file name → contents;
 *   a folder picker's `webkitRelativePath` prefix is ignored).
 */
export type PretrainedSource =
  | string
  | URL
  | { config: unknown; weights: ArrayBuffer | Uint8Array }
  | LocalFiles;

/** A model folder picked or dropped by the user. */
export type LocalFiles = FileList | readonly File[] | ReadonlyMap<string, Blob>;

/**
 * A load's byte progress (`onProgress`). Always `loaded ≤ total` where `total` is a number; per file and
 * phase, `loaded` never decreases and the last event has `loaded === total` (the file's size in bytes for
 * 'download' / 'cached', its tensor bytes for 'upload'). `overall.total` is set at the phase's first event
 * and never changes.
 */
export interface LoadProgress {
  /**
   * 'download': bytes arriving from the network; 'cached': bytes read from the cache (or local files / memory);
   * 'upload': tensor bytes of the weight file(s) written to the GPU.
   */
  phase: 'download' | 'cached' | 'upload';
  /** The file these bytes belong to, e.g. 'pytorch_model.bin' or 'model-00001-of-00002.safetensors'. */
  file: string;
  /** Bytes of `file` so far in this phase (distinct bytes: a part read twice counts once). */
  loaded: number;
  /**
   * Bytes of `file`: undefined while unknown (a compressed response without the file's length), until its
   * last event, which gives the length read.
   */
  total: number | undefined;
  /**
   * Across every weight file of the checkpoint, in this phase. `total` undefined when it is not known at the
   * phase's first event: a sharded checkpoint's download / cached bytes (shard sizes are known only as each
   * is opened); its upload total is the index's `metadata.total_size` when there is one.
   */
  overall: { loaded: number; total: number | undefined };
}

/** Any cache: Cache Storage (`caches.open(...)`) fits, or your own. Keys are the resolved URLs. */
export interface ModelCache {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
}

/** Where files come from and how: shared by `ImageGPT.fromPretrained` and `ImageGPTImageProcessor.fromPretrained`. */
export interface FileOptions {
  /** Hub host for hub ids (default 'https://huggingface.co'; a mirror or a local server works). */
  host?: string;
  /** Branch, tag or commit for hub ids (default 'main'). */
  revision?: string;
  /**
   * Default: Cache Storage (cache 'imagegpt-webgpu') where the runtime has it (browsers), none elsewhere.
   * `false`: no cache. Or any `{ match, put }`. A cached file loads with no request; a partial or failed
   * download never enters the cache. The cache is best-effort: one that is refused, throws, rejects, or does
   * not answer a `match` within 10 s is skipped for the rest of the load (with a warning, see `onWarning`);
   * a `put` still running when the load is done is waited for only while it keeps reading its body, and one
   * that resolves before reading the body gets no more of it (the file is not cached).
   */
  cache?: ModelCache | false;
  /** fetch implementation (default globalThis.fetch). */
  fetch?: typeof fetch;
  /**
   * Stops the load; every GPU buffer it made is freed and the promise rejects with an Error named 'AbortError'.
   * Loads have no timeout of their own: `AbortSignal.timeout(ms)` gives one (`AbortSignal.any` combines it with
   * a cancel button). Every wait on the network, the cache or a `fetch` wrapper ends when it aborts.
   */
  signal?: AbortSignal;
  /** Byte progress of the weight files (see LoadProgress). Called synchronously; a throw or rejection is only warned about. */
  onProgress?: (p: LoadProgress) => void;
  /**
   * Problems that do not fail the load: the cache was refused, failed, or was too slow and is skipped; a
   * callback threw. Default: console.warn.
   */
  onWarning?: (message: string) => void;
}

// ───────────────────────────── internal seams ─────────────────────────────

/** A tensor as a checkpoint declares it, before its bytes. */
export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
}

/**
 * Receives a checkpoint file's tensors while the file's bytes arrive (the uploader implements it).
 * Order: `declare` once per file, before any data of it; then `data` calls. For each tensor, data arrives
 * as contiguous little-endian row-major bytes in increasing `byteOffset`, covering [0, its byte length)
 * exactly once; tensors may interleave. `bytes` is only valid during the call (the reader may reuse it).
 */
export interface TensorSink {
  declare(file: string, tensors: readonly TensorInfo[]): void;
  data(name: string, byteOffset: number, bytes: Uint8Array): void;
}

/**
 * A file's bytes, read front to back. Implemented over an HTTP response stream, a series of HTTP Range
 * requests, a Blob, or bytes in memory. Forward-only unless `random` is set.
 */
export interface ByteCursor {
  /** For messages: the URL or file name. */
  readonly name: string;
  /** Total bytes, when known (Content-Length, Blob.size, ...). */
  readonly size: number | undefined;
  /** Offset of the next byte `read`/`pipe` returns. */
  readonly position: number;
  /** True when `seek` may go backwards (Range requests honoured, Blob, memory). */
  readonly random: boolean;
  /** Exactly `length` bytes (a fresh array the caller may keep); the file ending first is an Error naming it. */
  read(length: number): Promise<Uint8Array>;
  /** `length` bytes passed on in pieces (each valid only during the call), without holding them all. */
  pipe(length: number, onChunk: (chunk: Uint8Array) => void): Promise<void>;
  /** Moves to `offset` (forward-only cursors skip by reading). */
  seek(offset: number): Promise<void>;
  /** Releases the connection / reader. Idempotent. */
  close(): Promise<void>;
}

/** Reads a checkpoint file of one format from a cursor into a sink; resolves when every tensor's bytes went. */
export type CheckpointReader = (cursor: ByteCursor, sink: TensorSink) => Promise<void>;

// ───────────────────────────── the model's weight spec ─────────────────────────────
// The model names its tensors here and the uploader follows: loading knows no model's tensor names.

/** One tensor a model takes from a checkpoint. */
export interface TensorSpec {
  name: string;
  /** Its checkpoint shape; a string is a dimension of any size, named in messages (e.g. 'num_labels'). */
  shape: readonly (number | string)[];
  /**
   * 'gpu': streamed into a storage buffer as its bytes arrive. 'gpu-transposed' (2-D): gathered whole, stored as
   * [cols, rows], and kept in f32 when a value is beyond float16 (gathered, so it can fall back instead of failing).
   * 'cpu': gathered into a Float32Array.
   */
  place: 'gpu' | 'gpu-transposed' | 'cpu';
  /** On the GPU: 'load' is the load's dtype (f16 packed two per u32), 'f32' is always f32. */
  dtype: 'load' | 'f32';
  /** May be absent (see WeightSpec.oneOf). */
  optional?: boolean;
}

/** What a model wants from a checkpoint: any other tensor is an error. */
export interface WeightSpec {
  /** Starts every message, e.g. 'ImageGPT weights'. */
  what: string;
  tensors: readonly TensorSpec[];
  /** Checkpoint buffers that are not weights: read past, never stored. */
  skip: RegExp;
  /** Groups of optional tensors of which at least one must be present; when none is, the first is named missing. */
  oneOf: readonly (readonly string[])[];
  /** Ends the message about unexpected tensors, e.g. 'is this an ImageGPT checkpoint with n_layer = 2?'. */
  unexpectedHint: string;
}

/** A tensor on the GPU, in its stored shape (a transposed one's is [cols, rows]). */
export interface GpuTensor {
  buffer: GPUBuffer;
  dtype: 'f32' | 'f16';
  shape: number[];
}

/** A tensor kept on the CPU. */
export interface CpuTensor {
  data: Float32Array;
  shape: number[];
}

/** What the uploader hands over: the tensors by name, and every GPU buffer made (the new owner frees them). */
export interface UploadedTensors {
  gpu: Map<string, GpuTensor>;
  cpu: Map<string, CpuTensor>;
  /** Bytes of all buffers. */
  gpuBytes: number;
  buffers: GPUBuffer[];
}
