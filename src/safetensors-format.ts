// The safetensors format (https://github.com/huggingface/safetensors) itself: its dtypes and their sizes, the
// types the reader and writer share, and the checks of one tensor's dtype and shape. A file is an 8-byte
// little-endian u64 N, then N bytes of UTF-8 JSON (tensor name → { dtype, shape, data_offsets: [begin, end] }
// plus an optional "__metadata__" string map), then the data section the offsets point into; tensors are
// little-endian and row-major. No GPU here: the model loader and weights-tools both use this.
import { describeValue } from './json';
import { ImageGPTError, type ErrorCode } from './errors';

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

/** The header key that holds the string → string metadata, not a tensor. */
export const METADATA_KEY = '__metadata__';

/**
 * Throws a safetensors error. `code` says whose fault: E_BAD_FILE (the default) for a damaged file,
 * E_BAD_INPUT for arguments the writer or tensorToFloat32 was given, E_UNSUPPORTED for a dtype not read.
 */
export function fail(problem: string, code: ErrorCode = 'E_BAD_FILE'): never {
  throw new ImageGPTError(code, `safetensors: ${problem}`);
}

/** As `fail`, naming the tensor. */
export function failTensor(name: string, problem: string, code: ErrorCode = 'E_BAD_FILE'): never {
  throw new ImageGPTError(code, `safetensors: tensor ${describeValue(name)}: ${problem}`);
}

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BITS, s);
}

/** The dtype of a tensor entry, checked against the format's list. */
export function checkDType(name: string, dtype: unknown, code: ErrorCode = 'E_BAD_FILE'): SafetensorsDType {
  if (!isSafetensorsDType(dtype)) {
    failTensor(name, `unknown dtype ${describeValue(dtype)} (expected one of ${Object.keys(SAFETENSORS_DTYPE_BITS).join(', ')})`, code);
  }
  return dtype;
}

/** Checks a shape (its type first, so a bad one is only ever printed as a bounded excerpt) and returns its element count. */
function checkShape(name: string, shape: unknown, code: ErrorCode): number {
  if (!Array.isArray(shape)) failTensor(name, `shape must be an array of integers, got ${describeValue(shape)}`, code);
  let count = 1;
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      failTensor(name, `shape ${describeValue(shape)} has ${describeValue(d)}; dimensions must be non-negative integers`, code);
    }
    count *= d;
    if (!Number.isSafeInteger(count)) failTensor(name, `shape ${describeValue(shape)} has too many elements`, code);
  }
  return count;
}

/**
 * The byte length a tensor of this dtype and shape must have (packed sub-byte dtypes must fill whole bytes).
 * `code`: E_BAD_FILE when the shape came from a file's header, E_BAD_INPUT when a caller gave it.
 */
export function safetensorsByteLength(name: string, dtype: SafetensorsDType, shape: readonly number[], code: ErrorCode = 'E_BAD_FILE'): number {
  const count = checkShape(name, shape, code);
  const bits = count * SAFETENSORS_DTYPE_BITS[dtype];
  if (!Number.isSafeInteger(bits)) failTensor(name, `shape ${describeValue(shape)} is too large`, code);
  if (bits % 8 !== 0) {
    failTensor(name, `${dtype} ${describeValue(shape)} is ${bits} bits, not a whole number of bytes (${dtype} packs ${SAFETENSORS_DTYPE_BITS[dtype]} bits per element)`, code);
  }
  return bits / 8;
}

