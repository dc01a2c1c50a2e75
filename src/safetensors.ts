// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N, then N bytes
// of UTF-8 JSON (tensor name → { dtype, shape, data_offsets: [begin, end] } plus an optional
// "__metadata__" string map), then the data section the offsets point into. Tensors are
// little-endian and row-major. No GPU here: the model loader and weights-tools both use this.

import { bfloat16ArrayToFloat32, float16ArrayToFloat32 } from './f16';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** A view into the file bytes, not a copy. */
  data: Uint8Array;
}

export interface SafetensorsFile {
  /** In the order of their data in the file. */
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** Where one tensor's bytes lie, relative to the start of the data section. */
export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** 8 + the JSON length: the file offset where the data section starts. */
  headerBytes: number;
  /** Length of the data section (the end of the last tensor). */
  dataBytes: number;
  /** In the order of their data in the file. */
  tensors: SafetensorsTensorInfo[];
  metadata: Record<string, string>;
}

/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

const METADATA_KEY = '__metadata__';

function fail(problem: string): never {
  throw new Error(`safetensors: ${problem}`);
}

function failTensor(name: string, problem: string): never {
  throw new Error(`safetensors: tensor ${JSON.stringify(name)}: ${problem}`);
}

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, s);
}

function checkDType(name: string, dtype: unknown): SafetensorsDType {
  if (!isSafetensorsDType(dtype)) {
    failTensor(name, `unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`);
  }
  return dtype;
}

/** Checks a shape and returns its element count. */
function checkShape(name: string, shape: unknown): number {
  if (!Array.isArray(shape)) failTensor(name, `shape must be an array of integers, got ${JSON.stringify(shape)}`);
  let count = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      failTensor(name, `shape ${JSON.stringify(shape)} has ${JSON.stringify(d)}; dimensions must be non-negative integers`);
    }
    count *= d;
    if (!Number.isSafeInteger(count)) failTensor(name, `shape ${JSON.stringify(shape)} has too many elements`);
  }
  return count;
}

/** The byte length a tensor of this dtype and shape must have. */
export function safetensorsByteLength(name: string, dtype: SafetensorsDType, shape: readonly number[]): number {
  const bytes = checkShape(name, shape) * SAFETENSORS_DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(bytes)) failTensor(name, `shape ${JSON.stringify(shape)} is too large`);
  return bytes;
}

/**
 * Reads the 8-byte length prefix and returns the full header size (8 + N): how many bytes from
 * the start of the file `readSafetensorsHeader` needs. For streaming: read this many, then parse.
 */
export function safetensorsHeaderBytes(prefix: Uint8Array, fileBytes?: number): number {
  if (prefix.length < 8) {
    fail(`file too short: ${prefix.length} bytes, expected at least 8 (the header length)`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const n = high * 2 ** 32 + low;
  if (n > MAX_SAFETENSORS_HEADER_BYTES) {
    fail(`header length ${n} bytes exceeds the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  }
  if (n < 2) fail(`header length ${n} bytes is too small for a JSON object`);
  if (fileBytes !== undefined && 8 + n > fileBytes) {
    fail(`header length ${n} bytes is longer than the file (${fileBytes} bytes): truncated or not a safetensors file`);
  }
  return 8 + n;
}

function checkOffsets(name: string, offsets: unknown): [number, number] {
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
  ) {
    failTensor(name, `data_offsets must be [begin, end] of non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) failTensor(name, `data_offsets [${begin}, ${end}] end before they begin`);
  return [begin, end];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses and validates the header. `bytes` must hold at least `safetensorsHeaderBytes(bytes)` bytes.
 * With `fileBytes` (the whole file's length) the data section must be covered exactly; without it
 * (a stream of unknown length) the caller checks that the stream holds `headerBytes + dataBytes`.
 */
export function readSafetensorsHeader(bytes: Uint8Array, fileBytes?: number): SafetensorsHeader {
  const headerBytes = safetensorsHeaderBytes(bytes, fileBytes);
  if (bytes.length < headerBytes) {
    fail(`need the first ${headerBytes} bytes to read the header, got ${bytes.length}`);
  }
  let json: string;
  try {
    json = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerBytes));
  } catch {
    fail('header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    fail(`header is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isPlainObject(parsed)) fail('header must be a JSON object of tensor name → {dtype, shape, data_offsets}');

  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === METADATA_KEY) {
      if (entry === null) continue;
      if (!isPlainObject(entry)) fail('"__metadata__" must be an object of string → string');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') fail(`"__metadata__" value for ${JSON.stringify(k)} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    if (!isPlainObject(entry)) failTensor(name, 'entry must be an object {dtype, shape, data_offsets}');
    const dtype = checkDType(name, entry.dtype);
    const shape = entry.shape as number[];
    const expected = safetensorsByteLength(name, dtype, shape);
    const [begin, end] = checkOffsets(name, entry.data_offsets);
    if (end - begin !== expected) {
      failTensor(
        name,
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} ${JSON.stringify(shape)} needs ${expected}`,
      );
    }
    tensors.push({ name, dtype, shape: [...shape], begin, end });
  }

  // The tensors must tile the data section: sorted by offset, each starts where the last ended.
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  let previous: string | null = null;
  for (const t of tensors) {
    if (t.begin < position) {
      failTensor(t.name, `data_offsets [${t.begin}, ${t.end}] overlap tensor ${JSON.stringify(previous)} (which ends at ${position})`);
    }
    if (t.begin > position) {
      failTensor(
        t.name,
        `data_offsets [${t.begin}, ${t.end}] leave a hole of ${t.begin - position} unused bytes after ` +
          (previous === null ? 'the header' : `tensor ${JSON.stringify(previous)}`),
      );
    }
    position = t.end;
    previous = t.name;
  }
  const dataBytes = position;
  if (fileBytes !== undefined) {
    const available = fileBytes - headerBytes;
    if (dataBytes > available) {
      const last = tensors[tensors.length - 1];
      failTensor(
        last.name,
        `data ends at byte ${headerBytes + dataBytes} of the file, which has only ${fileBytes} bytes (truncated file?)`,
      );
    }
    if (dataBytes < available) {
      fail(`${available - dataBytes} bytes after the last tensor are not part of any tensor (the data section has ${available} bytes, tensors cover ${dataBytes})`);
    }
  }
  return { headerBytes, dataBytes, tensors, metadata };
}

/** Parses a whole safetensors file held in memory. Tensor data are views into `bytes`. */
export function parseSafetensors(bytes: ArrayBuffer | Uint8Array): SafetensorsFile {
  // A plain Uint8Array even for a Node Buffer, whose slice() would not copy.
  const u8 = bytes instanceof Uint8Array ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  const header = readSafetensorsHeader(u8, u8.length);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const t of header.tensors) {
    const data = u8.subarray(header.headerBytes + t.begin, header.headerBytes + t.end);
    tensors.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, data });
  }
  return { tensors, metadata: header.metadata };
}

/** Copies `bytes` into a fresh, aligned buffer when a typed view on them would be misaligned. */
function aligned(bytes: Uint8Array, elementBytes: number): Uint8Array {
  return bytes.byteOffset % elementBytes === 0 ? bytes : new Uint8Array(bytes);
}

/** F64/F32/F16/BF16 → a new Float32Array. Other dtypes are an error: weights must be floating point. */
export function tensorToFloat32(t: SafetensorsTensor): Float32Array {
  const size = SAFETENSORS_DTYPE_BYTES[t.dtype];
  if (size === undefined) failTensor(t.name, `unknown dtype ${JSON.stringify(t.dtype)}`);
  const count = t.data.byteLength / size;
  const b = aligned(t.data, size);
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(b.buffer, b.byteOffset, count).slice();
    case 'F64':
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, count));
    case 'F16':
      return float16ArrayToFloat32(new Uint16Array(b.buffer, b.byteOffset, count));
    case 'BF16':
      return bfloat16ArrayToFloat32(new Uint16Array(b.buffer, b.byteOffset, count));
    default:
      failTensor(t.name, `dtype ${t.dtype} cannot be read as float32 (expected F64, F32, F16 or BF16)`);
  }
}

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
}

export interface SafetensorsPlan {
  /** Length prefix + JSON header (space-padded to a multiple of 8): the file's first bytes. */
  header: Uint8Array;
  /** The order the data must be written in, with offsets relative to the data section. */
  tensors: SafetensorsTensorInfo[];
  /** header.length + the data section. */
  totalBytes: number;
}

/**
 * Lays out a file before any data exists, for a streaming writer: write `header`, then each
 * tensor's bytes in `tensors` order. Wider dtypes come first (stable otherwise) so that every
 * tensor starts aligned to its element size and typed-array views on the file work.
 */
export function planSafetensors(entries: readonly SafetensorsEntry[], metadata: Record<string, string> = {}): SafetensorsPlan {
  const seen = new Set<string>();
  for (const e of entries) {
    if (typeof e.name !== 'string' || e.name.length === 0) fail(`tensor name must be a non-empty string, got ${JSON.stringify(e.name)}`);
    if (e.name === METADATA_KEY) failTensor(e.name, 'this name is reserved for metadata');
    if (seen.has(e.name)) failTensor(e.name, 'appears twice');
    seen.add(e.name);
    checkDType(e.name, e.dtype);
    checkShape(e.name, e.shape);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') fail(`metadata value for ${JSON.stringify(k)} must be a string, got ${JSON.stringify(v)}`);
  }
  const ordered = [...entries].sort((a, b) => SAFETENSORS_DTYPE_BYTES[b.dtype] - SAFETENSORS_DTYPE_BYTES[a.dtype]);
  const json: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) json[METADATA_KEY] = metadata;
  const tensors: SafetensorsTensorInfo[] = [];
  let position = 0;
  for (const e of ordered) {
    const bytes = safetensorsByteLength(e.name, e.dtype, e.shape);
    const info = { name: e.name, dtype: e.dtype, shape: [...e.shape], begin: position, end: position + bytes };
    json[e.name] = { dtype: info.dtype, shape: info.shape, data_offsets: [info.begin, info.end] };
    tensors.push(info);
    position += bytes;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.length / 8) * 8;
  if (padded > MAX_SAFETENSORS_HEADER_BYTES) fail(`header would be ${padded} bytes, above the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit`);
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.length);
  const view = new DataView(header.buffer);
  view.setUint32(0, padded, true);
  view.setUint32(4, 0, true);
  header.set(text, 8);
  return { header, tensors, totalBytes: header.length + position };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Writes a whole safetensors file in memory. Each `data` must hold exactly shape × dtype-size bytes. */
export function writeSafetensors(
  tensors: Array<{ name: string; dtype: SafetensorsDType; shape: number[]; data: ArrayBufferView }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const plan = planSafetensors(tensors, metadata);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.header, 0);
  for (const info of plan.tensors) {
    const data = bytesOf(byName.get(info.name)!.data);
    if (data.byteLength !== info.end - info.begin) {
      failTensor(info.name, `data has ${data.byteLength} bytes, but ${info.dtype} ${JSON.stringify(info.shape)} needs ${info.end - info.begin}`);
    }
    out.set(data, plan.header.length + info.begin);
  }
  return out;
}
