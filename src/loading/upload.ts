// The uploader: a TensorSink that checks each declared tensor against the model's weight spec, makes its
// GPU buffer, and writes the bytes as they arrive (converted in bounded chunks to f32, or to f16 packed two
// per u32). Tensors the spec places 'gpu-transposed' or 'cpu' are gathered whole. It knows no model: names,
// shapes and dtypes come from the spec. Every buffer is tracked: destroy() frees them all, so a load that
// fails half-way keeps nothing.
import { float32ArrayToFloat16 } from '../f16';
import type { SafetensorsDType } from '../safetensors';
import { SAFETENSORS_DTYPE_BYTES, decodeFloat32 } from '../safetensors';
import type { WeightDType } from '../gpu/types';
import { abortError } from './http';
import type { CpuTensor, GpuTensor, TensorInfo, TensorSink, TensorSpec, UploadedTensors, WeightSpec } from './types';
import { clip, describeValue, quote } from '../json';
import { ImageGPTError } from '../errors';

/** Input bytes converted per step: bounds the temporary arrays whatever size the reader's chunks are. */
const CONVERT_BYTES = 1 << 20;

const FLOAT_DTYPES = new Set<SafetensorsDType>(['F32', 'F16', 'BF16', 'F64']);

const F16_MAX = 65504;

export interface UploaderOptions {
  signal?: AbortSignal;
}

interface Target {
  info: TensorInfo;
  file: string;
  /** Elements. */
  count: number;
  inBytes: number;
  totalBytes: number;
  received: number;
  /** 'skip': the spec's non-weights; 'cpu': gathered whole (then transposed or kept); 'gpu': streamed to `buffer`. */
  kind: 'skip' | 'cpu' | 'gpu';
  /** The spec's entry (null when skipped). */
  spec: TensorSpec | null;
  out: WeightDType;
  buffer: GPUBuffer | null;
  cpu: Float32Array | null;
  /** Bytes of a conversion unit (one element, or two for f16 pairs) not complete yet. */
  carry: Uint8Array;
  carryLength: number;
}

function sameDims(shape: readonly number[], want: readonly (number | string)[]): boolean {
  return shape.length === want.length && want.every((d, i) => typeof d === 'string' || d === shape[i]);
}

function fmt(shape: readonly (number | string)[]): string {
  return shape.length <= 8 ? `[${shape.join(', ')}]` : `[${shape.slice(0, 8).join(', ')}, …] (${shape.length} dimensions)`;
}

export class GpuUploader implements TensorSink {
  readonly buffers: GPUBuffer[] = [];
  private gpuBytes = 0;
  private readonly targets = new Map<string, Target>();
  private readonly wanted: Map<string, TensorSpec>;
  /** Starts every message. */
  private readonly what: string;
  private lastFile = false;
  private scratch: Uint16Array | null = null;
  private decoded: Float32Array | null = null;
  private destroyed = false;

  constructor(
    private readonly device: GPUDevice,
    private readonly spec: WeightSpec,
    private readonly dtype: WeightDType,
    private readonly options: UploaderOptions = {},
  ) {
    if (dtype !== 'f32' && dtype !== 'f16') throw new ImageGPTError('E_BAD_INPUT', `dtype must be 'f32' or 'f16', got ${describeValue(dtype)}`);
    this.wanted = new Map(spec.tensors.map((t) => [t.name, t]));
    this.what = spec.what;
  }

  /** Says that the next declared file is the checkpoint's last, so missing tensors fail before any upload. */
  expectLastFile(last: boolean): void {
    this.lastFile = last;
  }

  declare(file: string, tensors: readonly TensorInfo[]): void {
    this.checkUsable();
    const fresh: Target[] = [];
    const unexpected: string[] = [];
    const inFile = new Set<string>();
    for (const t of tensors) {
      const previous = this.targets.get(t.name)?.file;
      if (previous !== undefined || inFile.has(t.name)) {
        throw new ImageGPTError('E_BAD_FILE', `${this.what}: tensor ${quote(t.name)} appears twice (in ${clip(previous ?? file)} and in ${clip(file)})`);
      }
      inFile.add(t.name);
      const want = this.spec.skip.test(t.name) ? null : this.wanted.get(t.name);
      if (want === undefined) {
        unexpected.push(t.name);
        continue;
      }
      const kind: Target['kind'] = want === null ? 'skip' : want.place === 'gpu' ? 'gpu' : 'cpu';
      if (want !== null) {
        if (!sameDims(t.shape, want.shape)) throw new ImageGPTError('E_BAD_FILE', `${this.what}: tensor ${quote(t.name)} has shape ${fmt(t.shape)}, expected ${fmt(want.shape)}`);
        if (!FLOAT_DTYPES.has(t.dtype)) throw new ImageGPTError('E_UNSUPPORTED', `${this.what}: tensor ${quote(t.name)} has dtype ${t.dtype}, expected F32, F16, BF16 or F64`);
      }
      const inBytes = SAFETENSORS_DTYPE_BYTES[t.dtype];
      const count = t.shape.reduce((a, b) => a * b, 1);
      // Gathered tensors are held in f32 until finish(); streamed ones go in their final dtype.
      const out: WeightDType = kind === 'gpu' && want?.dtype === 'load' ? this.dtype : 'f32';
      if (out === 'f16' && t.shape[t.shape.length - 1] % 2 !== 0) {
        throw new ImageGPTError('E_UNSUPPORTED', `${this.what}: ${quote(t.name)} has an odd number of columns (${t.shape[t.shape.length - 1]}); f16 packing needs pairs (use dtype: 'f32')`);
      }
      fresh.push({
        info: t,
        file,
        count,
        inBytes,
        totalBytes: count * inBytes,
        received: 0,
        kind,
        spec: want,
        out,
        buffer: null,
        cpu: null,
        carry: new Uint8Array(inBytes * (out === 'f16' ? 2 : 1)),
        carryLength: 0,
      });
    }
    if (unexpected.length > 0) {
      throw new ImageGPTError('E_BAD_FILE', 
        `${this.what}: unexpected tensor(s) ${unexpected.slice(0, 5).map((n) => quote(n)).join(', ')}` +
          `${unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : ''} in ${clip(file)} — ${this.spec.unexpectedHint}`,
      );
    }
    for (const t of fresh) this.targets.set(t.info.name, t);
    if (this.lastFile) this.checkMissing();
    for (const t of fresh) {
      if (t.kind === 'cpu') t.cpu = new Float32Array(t.count);
      if (t.kind === 'gpu') t.buffer = this.createBuffer(t.info.name, t.count * (t.out === 'f16' ? 2 : 4));
    }
  }

  private createBuffer(label: string, bytes: number): GPUBuffer {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const limit = this.device.limits.maxBufferSize;
    if (size > limit || size > this.device.limits.maxStorageBufferBindingSize) {
      throw new ImageGPTError('E_DEVICE_LIMIT', 
        `${this.what}: ${quote(label)} needs a ${size}-byte buffer; this device allows maxBufferSize ${limit}, ` +
          `maxStorageBufferBindingSize ${this.device.limits.maxStorageBufferBindingSize} (request a device with larger limits)`,
      );
    }
    // COPY_SRC: a trainer reads updated weights back to save them (it costs no memory).
    const buffer = this.device.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    this.buffers.push(buffer);
    this.gpuBytes += size;
    return buffer;
  }

  data(name: string, byteOffset: number, bytes: Uint8Array): void {
    this.checkUsable();
    if (this.options.signal?.aborted) throw abortError();
    const t = this.targets.get(name);
    if (!t) throw new ImageGPTError('E_INTERNAL', `${this.what}: bytes for tensor ${quote(name)}, which no file declared`);
    if (byteOffset !== t.received) {
      throw new ImageGPTError('E_INTERNAL', `${this.what}: bytes of ${quote(name)} at offset ${byteOffset}, expected the next at ${t.received}`);
    }
    if (t.received + bytes.length > t.totalBytes) {
      throw new ImageGPTError('E_INTERNAL', `${this.what}: more than the ${t.totalBytes} bytes of ${quote(name)} (${t.info.dtype} ${fmt(t.info.shape)})`);
    }
    const unit = t.carry.length;
    let at = 0;
    if (t.kind !== 'skip') {
      // Finish a unit split across calls.
      if (t.carryLength > 0) {
        const n = Math.min(unit - t.carryLength, bytes.length);
        t.carry.set(bytes.subarray(0, n), t.carryLength);
        t.carryLength += n;
        at = n;
        if (t.carryLength === unit) {
          this.convert(t, t.carry, (t.received + at - unit) / t.inBytes);
          t.carryLength = 0;
        }
      }
      const whole = Math.floor((bytes.length - at) / unit) * unit;
      const step = Math.floor(CONVERT_BYTES / unit) * unit;
      for (let o = 0; o < whole; o += step) {
        const n = Math.min(step, whole - o);
        this.convert(t, bytes.subarray(at + o, at + o + n), (t.received + at + o) / t.inBytes);
      }
      at += whole;
      if (at < bytes.length) {
        t.carry.set(bytes.subarray(at), 0);
        t.carryLength = bytes.length - at;
      }
    }
    t.received += bytes.length;
  }

  /** Decodes whole elements starting at element `index` and puts them where they go. */
  private convert(t: Target, bytes: Uint8Array, index: number): void {
    // One scratch for every chunk's decoded values (F32 needs none: it is read in place).
    this.decoded ??= new Float32Array(CONVERT_BYTES / 2);
    const count = bytes.length / t.inBytes;
    const values = decodeFloat32(t.info.name, t.info.dtype, bytes, this.decoded.length >= count ? this.decoded : undefined);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        const raw = t.info.dtype === 'F64' ? readF64(bytes, i) : values[i];
        throw new ImageGPTError('E_BAD_FILE', 
          `${this.what}: tensor ${quote(t.info.name)} holds ${raw} at index ${index + i}` +
            (Number.isFinite(raw) ? ', beyond float32' : '') +
            ': a checkpoint must hold finite numbers',
        );
      }
    }
    if (t.kind === 'cpu') {
      (t.cpu as Float32Array).set(values, index);
      return;
    }
    const buffer = t.buffer as GPUBuffer;
    if (t.out === 'f32') {
      this.device.queue.writeBuffer(buffer, index * 4, values.buffer, values.byteOffset, values.byteLength);
      return;
    }
    // One scratch for every chunk: a fresh array per MiB would be garbage the size of the model.
    this.scratch ??= new Uint16Array(CONVERT_BYTES / 2);
    const half = float32ArrayToFloat16(values, this.scratch.length >= values.length ? this.scratch : new Uint16Array(values.length)).subarray(0, values.length);
    for (let i = 0; i < half.length; i++) {
      if ((half[i] & 0x7c00) === 0x7c00) {
        throw new ImageGPTError('E_UNSUPPORTED', 
          `${this.what}: tensor ${quote(t.info.name)} holds ${values[i]} at index ${index + i}, beyond float16's ±${F16_MAX}; ` +
            "load with dtype: 'f32' to keep it",
        );
      }
    }
    this.device.queue.writeBuffer(buffer, index * 2, half.buffer, half.byteOffset, half.byteLength);
  }

  private checkMissing(): void {
    for (const t of this.spec.tensors) {
      if (!t.optional && !this.targets.has(t.name)) throw new ImageGPTError('E_NOT_FOUND', `${this.what}: missing tensor ${quote(t.name)} (expected shape ${fmt(t.shape)})`);
    }
    for (const group of this.spec.oneOf) {
      if (group.length === 0 || group.some((name) => this.targets.has(name))) continue;
      const first = this.wanted.get(group[0]);
      throw new ImageGPTError('E_NOT_FOUND', `${this.what}: missing tensor ${quote(group[0])}${first ? ` (expected shape ${fmt(first.shape)})` : ''}`);
    }
  }

  /** After every file: checks completeness, uploads the gathered GPU tensors, and hands everything over (no longer tracked here). */
  finish(): UploadedTensors {
    this.checkUsable();
    this.checkMissing();
    for (const t of this.targets.values()) {
      if (t.received !== t.totalBytes) {
        throw new ImageGPTError('E_BAD_FILE', `${this.what}: tensor ${quote(t.info.name)} got ${t.received} of its ${t.totalBytes} bytes from ${clip(t.file)}`);
      }
    }
    const gpu = new Map<string, GpuTensor>();
    const cpu = new Map<string, CpuTensor>();
    for (const t of this.targets.values()) {
      if (t.kind === 'gpu') gpu.set(t.info.name, { buffer: t.buffer as GPUBuffer, dtype: t.out, shape: t.info.shape });
    }
    for (const t of this.targets.values()) {
      if (t.kind !== 'cpu') continue;
      const data = t.cpu as Float32Array;
      t.cpu = null;
      if (t.spec?.place === 'cpu') {
        cpu.set(t.info.name, { data, shape: t.info.shape });
        continue;
      }
      gpu.set(t.info.name, this.uploadTransposed(t, data));
    }
    const uploaded: UploadedTensors = { gpu, cpu, gpuBytes: this.gpuBytes, buffers: [...this.buffers] };
    this.buffers.length = 0;
    this.destroyed = true;
    return uploaded;
  }

  /** [rows, cols] → [cols, rows] on the GPU; kept in f32 when a value would not fit in float16 (the kernels take each matrix's own dtype). */
  private uploadTransposed(t: Target, src: Float32Array): GpuTensor {
    const [rows, cols] = t.info.shape;
    const transposed = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) transposed[c * rows + r] = src[r * cols + c];
    let dtype: WeightDType = t.spec?.dtype === 'load' ? this.dtype : 'f32';
    let bytes: Float32Array | Uint16Array = transposed;
    if (dtype === 'f16') {
      const half = float32ArrayToFloat16(transposed);
      if (half.every((h) => (h & 0x7c00) !== 0x7c00)) bytes = half;
      else dtype = 'f32';
    }
    const buffer = this.createBuffer(t.info.name, bytes.byteLength);
    this.device.queue.writeBuffer(buffer, 0, bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { buffer, dtype, shape: [cols, rows] };
  }

  /** Frees every buffer made so far (a failed or aborted load). Idempotent. */
  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
    this.destroyed = true;
  }

  private checkUsable(): void {
    if (this.destroyed) throw new ImageGPTError('E_INTERNAL', `${this.what}: the uploader was used after finish() or destroy()`);
  }
}

function readF64(bytes: Uint8Array, i: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + i * 8, 8).getFloat64(0, true);
}
