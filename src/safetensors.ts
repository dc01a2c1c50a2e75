// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N, then N bytes
// of UTF-8 JSON (tensor name → { dtype, shape, data_offsets: [begin, end] } plus an optional
// "__metadata__" string map), then the data section the offsets point into. Tensors are
// little-endian and row-major. No GPU here: the model loader and weights-tools both use this.

import { bfloat16ArrayToFloat32, float16ArrayToFloat32 } from './f16';
import { describeValue, errorMessage, isJsonObject } from './json';

/**
 * Every dtype of the format (the reference implementation's list). All parse; `tensorToFloat32` reads the
 * floats F64, F32, F16, BF16 and the 8-bit F8_E4M3 / F8_E5M2 (exactly); the others are an error there.
 * F4 (MXFP4 E2M1) and F6_* (MXFP6) are packed sub-byte formats: a tensor of them must fill whole bytes.
 */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'F8_E4M3'
  | 'F8_E5M2'
  | 'F8_E8M0'
  | 'F8_E4M3FNUZ'
  | 'F8_E5M2FNUZ'
  | 'F6_E2M3'
  | 'F6_E3M2'
  | 'F4'
  | 'C64'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

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

/** Bits per element. */
export const SAFETENSORS_DTYPE_BITS: Readonly<Record<SafetensorsDType, number>> = {
  F64: 64,
  F32: 32,
  F16: 16,
  BF16: 16,
  F8_E4M3: 8,
  F8_E5M2: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  F6_E2M3: 6,
  F6_E3M2: 6,
  F4: 4,
  C64: 64,
  I64: 64,
  I32: 32,
  I16: 16,
  I8: 8,
  U64: 64,
  U32: 32,
  U16: 16,
  U8: 8,
  BOOL: 8,
};

/** Bytes per element: fractional (0.75, 0.5) for the packed F6_* and F4. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = Object.fromEntries(
  Object.entries(SAFETENSORS_DTYPE_BITS).map(([dtype, bits]) => [dtype, bits / 8]),
) as Record<SafetensorsDType, number>;

/** The dtypes `tensorToFloat32` converts (exactly: every value of each is a float32). */
export const SAFETENSORS_FLOAT_DTYPES: ReadonlySet<SafetensorsDType> = new Set<SafetensorsDType>([
  'F64',
  'F32',
  'F16',
  'BF16',
  'F8_E4M3',
  'F8_E5M2',
]);

const METADATA_KEY = '__metadata__';

function fail(problem: string): never {
  throw new Error(`safetensors: ${problem}`);
}

function failTensor(name: string, problem: string): never {
  throw new Error(`safetensors: tensor ${describeValue(name)}: ${problem}`);
}

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BITS, s);
}

function checkDType(name: string, dtype: unknown): SafetensorsDType {
  if (!isSafetensorsDType(dtype)) {
    failTensor(name, `unknown dtype ${describeValue(dtype)} (expected one of ${Object.keys(SAFETENSORS_DTYPE_BITS).join(', ')})`);
  }
  return dtype;
}

/** Checks a shape (its type first, so a bad one is only ever printed as a bounded excerpt) and returns its element count. */
function checkShape(name: string, shape: unknown): number {
  if (!Array.isArray(shape)) failTensor(name, `shape must be an array of integers, got ${describeValue(shape)}`);
  let count = 1;
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      failTensor(name, `shape ${describeValue(shape)} has ${describeValue(d)}; dimensions must be non-negative integers`);
    }
    count *= d;
    if (!Number.isSafeInteger(count)) failTensor(name, `shape ${describeValue(shape)} has too many elements`);
  }
  return count;
}

/** The byte length a tensor of this dtype and shape must have (packed sub-byte dtypes must fill whole bytes). */
export function safetensorsByteLength(name: string, dtype: SafetensorsDType, shape: readonly number[]): number {
  const count = checkShape(name, shape);
  const bits = count * SAFETENSORS_DTYPE_BITS[dtype];
  if (!Number.isSafeInteger(bits)) failTensor(name, `shape ${describeValue(shape)} is too large`);
  if (bits % 8 !== 0) {
    failTensor(name, `${dtype} ${describeValue(shape)} is ${bits} bits, not a whole number of bytes (${dtype} packs ${SAFETENSORS_DTYPE_BITS[dtype]} bits per element)`);
  }
  return bits / 8;
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
    failTensor(name, `data_offsets must be [begin, end] of non-negative integers, got ${describeValue(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) failTensor(name, `data_offsets [${begin}, ${end}] end before they begin`);
  return [begin, end];
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
    fail(`header is not valid JSON (${errorMessage(e)})`);
  }
  if (!isJsonObject(parsed)) fail('header must be a JSON object of tensor name → {dtype, shape, data_offsets}');

  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === METADATA_KEY) {
      if (entry === null) continue;
      if (!isJsonObject(entry)) fail(`"__metadata__" must be an object of string → string, got ${describeValue(entry)}`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') fail(`"__metadata__" value for ${describeValue(k)} must be a string, got ${describeValue(v)}`);
        // defineProperty: a key "__proto__" is kept as a key, not taken as the prototype.
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (!isJsonObject(entry)) failTensor(name, `entry must be an object {dtype, shape, data_offsets}, got ${describeValue(entry)}`);
    const dtype = checkDType(name, entry.dtype);
    const shape = entry.shape as number[]; // checked by safetensorsByteLength
    const expected = safetensorsByteLength(name, dtype, shape);
    const [begin, end] = checkOffsets(name, entry.data_offsets);
    if (end - begin !== expected) {
      failTensor(
        name,
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} ${describeValue(shape)} needs ${expected}`,
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
      failTensor(t.name, `data_offsets [${t.begin}, ${t.end}] overlap tensor ${describeValue(previous)} (which ends at ${position})`);
    }
    if (t.begin > position) {
      failTensor(
        t.name,
        `data_offsets [${t.begin}, ${t.end}] leave a hole of ${t.begin - position} unused bytes after ` +
          (previous === null ? 'the header' : `tensor ${describeValue(previous)}`),
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
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) {
    fail(`expected the file's bytes as an ArrayBuffer or Uint8Array, got ${describeValue(bytes)}`);
  }
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

/** The 256 values of an 8-bit float with `mantissaBits` and exponent `bias`; `special(bits)` gives NaN/±∞ patterns. */
function float8Table(mantissaBits: number, bias: number, special: (bits: number) => number | undefined): Float32Array {
  const table = new Float32Array(256);
  const exponentMask = (1 << (7 - mantissaBits)) - 1;
  const scale = 2 ** mantissaBits;
  for (let bits = 0; bits < 256; bits++) {
    const sign = bits & 0x80 ? -1 : 1;
    const e = (bits >> mantissaBits) & exponentMask;
    const m = bits & (scale - 1);
    const magnitude = e === 0 ? (m / scale) * 2 ** (1 - bias) : (1 + m / scale) * 2 ** (e - bias);
    table[bits] = special(bits) ?? sign * magnitude;
  }
  return table;
}

let e4m3Table: Float32Array | null = null;
let e5m2Table: Float32Array | null = null;

/** F8_E4M3 (PyTorch's float8_e4m3fn): bias 7, no infinities, S.1111.111 is NaN. */
function float8E4M3Table(): Float32Array {
  e4m3Table ??= float8Table(3, 7, (bits) => ((bits & 0x7f) === 0x7f ? NaN : undefined));
  return e4m3Table;
}

/** F8_E5M2 (float8_e5m2): IEEE-style, bias 15, exponent 31 is ±∞ (mantissa 0) or NaN. */
function float8E5M2Table(): Float32Array {
  e5m2Table ??= float8Table(2, 15, (bits) =>
    (bits & 0x7c) === 0x7c ? ((bits & 3) === 0 ? (bits & 0x80 ? -Infinity : Infinity) : NaN) : undefined,
  );
  return e5m2Table;
}

/**
 * F64/F32/F16/BF16/F8_E4M3/F8_E5M2 → a new Float32Array (F64 rounded to nearest; the others exactly).
 * Other dtypes are an error: weights must be floating point.
 */
export function tensorToFloat32(t: SafetensorsTensor): Float32Array {
  if (typeof t !== 'object' || t === null) fail(`expected a tensor { name, dtype, shape, data }, got ${describeValue(t)}`);
  if (!isSafetensorsDType(t.dtype)) failTensor(t.name, `unknown dtype ${describeValue(t.dtype)}`);
  if (!(t.data instanceof Uint8Array)) failTensor(t.name, `data must be a Uint8Array, got ${describeValue(t.data)}`);
  const expected = safetensorsByteLength(t.name, t.dtype, t.shape);
  if (t.data.byteLength !== expected) {
    failTensor(t.name, `data has ${t.data.byteLength} bytes, but ${t.dtype} ${describeValue(t.shape)} needs ${expected}`);
  }
  const values = decodeFloat32(t.name, t.dtype, t.data);
  // F32 decodes to a view on the file's bytes (unless misaligned ones were copied): the caller gets its own copy.
  return t.dtype === 'F32' && values.buffer === t.data.buffer ? values.slice() : values;
}

/**
 * Whole little-endian elements of a float dtype (`SAFETENSORS_FLOAT_DTYPES`) → float32 values. F32 gives a
 * view on `bytes` when aligned (use it at once, or copy it); the others are decoded into `out` when given
 * (a reused scratch, at least as long; the result is then its first elements), else into a new array.
 */
export function decodeFloat32(name: string, dtype: SafetensorsDType, bytes: Uint8Array, out?: Float32Array): Float32Array {
  if (!SAFETENSORS_FLOAT_DTYPES.has(dtype)) {
    failTensor(name, `dtype ${dtype} cannot be read as float32 (expected ${[...SAFETENSORS_FLOAT_DTYPES].join(', ')})`);
  }
  const count = bytes.byteLength / SAFETENSORS_DTYPE_BYTES[dtype];
  if (out !== undefined && out.length < count) failTensor(name, `a scratch of ${out.length} values cannot hold ${count}`);
  const into = dtype === 'F32' ? undefined : (out?.subarray(0, count) ?? new Float32Array(count));
  switch (dtype) {
    case 'F32': {
      const b = aligned(bytes, 4);
      return new Float32Array(b.buffer, b.byteOffset, count);
    }
    case 'F64': {
      const b = aligned(bytes, 8);
      into!.set(new Float64Array(b.buffer, b.byteOffset, count));
      return into!;
    }
    case 'F16': {
      const b = aligned(bytes, 2);
      return float16ArrayToFloat32(new Uint16Array(b.buffer, b.byteOffset, count), into);
    }
    case 'BF16': {
      const b = aligned(bytes, 2);
      return bfloat16ArrayToFloat32(new Uint16Array(b.buffer, b.byteOffset, count), into);
    }
    case 'F8_E4M3':
    case 'F8_E5M2': {
      const table = dtype === 'F8_E4M3' ? float8E4M3Table() : float8E5M2Table();
      for (let i = 0; i < count; i++) into![i] = table[bytes[i]];
      return into!;
    }
    default:
      failTensor(name, `dtype ${dtype} has no float32 decoder`);
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
  if (!Array.isArray(entries as unknown)) fail(`expected an array of tensors { name, dtype, shape }, got ${describeValue(entries)}`);
  if (!isJsonObject(metadata)) fail(`metadata must be an object of string → string, got ${describeValue(metadata)}`);
  const seen = new Set<string>();
  for (const e of entries as unknown[]) {
    if (!isJsonObject(e)) fail(`expected a tensor { name, dtype, shape }, got ${describeValue(e)}`);
    if (typeof e.name !== 'string' || e.name.length === 0) fail(`tensor name must be a non-empty string, got ${describeValue(e.name)}`);
    if (e.name === METADATA_KEY) failTensor(e.name, 'this name is reserved for metadata');
    if (seen.has(e.name)) failTensor(e.name, 'appears twice');
    seen.add(e.name);
    safetensorsByteLength(e.name, checkDType(e.name, e.dtype), e.shape as number[]);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') fail(`metadata value for ${describeValue(k)} must be a string, got ${describeValue(v)}`);
  }
  const ordered = [...entries].sort((a, b) => SAFETENSORS_DTYPE_BYTES[b.dtype] - SAFETENSORS_DTYPE_BYTES[a.dtype]);
  // No prototype: a tensor named "__proto__" must become a key, not the object's prototype.
  const json: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
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
  for (const t of tensors) {
    if (!ArrayBuffer.isView(t.data)) failTensor(t.name, `data must be a typed array or DataView, got ${describeValue(t.data)}`);
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.header, 0);
  for (const info of plan.tensors) {
    const data = bytesOf(byName.get(info.name)!.data);
    if (data.byteLength !== info.end - info.begin) {
      failTensor(info.name, `data has ${data.byteLength} bytes, but ${info.dtype} ${describeValue(info.shape)} needs ${info.end - info.begin}`);
    }
    out.set(data, plan.header.length + info.begin);
  }
  return out;
}
