// Reading tensors out of a safetensors file: a whole file in memory as views on its bytes, and float
// dtypes (F64, F32, F16, BF16, F8_E4M3, F8_E5M2) decoded to float32.
import { bfloat16ArrayToFloat32, float16ArrayToFloat32 } from './f16';
import { describeValue } from './json';
import { readSafetensorsHeader } from './safetensors-header';
import {
  SAFETENSORS_DTYPE_BYTES,
  SAFETENSORS_FLOAT_DTYPES,
  fail,
  failTensor,
  isSafetensorsDType,
  safetensorsByteLength,
  type SafetensorsDType,
  type SafetensorsFile,
  type SafetensorsTensor,
} from './safetensors-format';

/** Parses a whole safetensors file held in memory. Tensor data are views into `bytes`. */
export function parseSafetensors(bytes: ArrayBuffer | Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) {
    fail(`expected the file's bytes as an ArrayBuffer or Uint8Array, got ${describeValue(bytes)}`, 'E_BAD_INPUT');
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
  if (typeof t !== 'object' || t === null) fail(`expected a tensor { name, dtype, shape, data }, got ${describeValue(t)}`, 'E_BAD_INPUT');
  if (!isSafetensorsDType(t.dtype)) failTensor(t.name, `unknown dtype ${describeValue(t.dtype)}`, 'E_BAD_INPUT');
  if (!(t.data instanceof Uint8Array)) failTensor(t.name, `data must be a Uint8Array, got ${describeValue(t.data)}`, 'E_BAD_INPUT');
  const expected = safetensorsByteLength(t.name, t.dtype, t.shape, 'E_BAD_INPUT');
  if (t.data.byteLength !== expected) {
    failTensor(t.name, `data has ${t.data.byteLength} bytes, but ${t.dtype} ${describeValue(t.shape)} needs ${expected}`, 'E_BAD_INPUT');
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
    failTensor(name, `dtype ${dtype} cannot be read as float32 (expected ${[...SAFETENSORS_FLOAT_DTYPES].join(', ')})`, 'E_UNSUPPORTED');
  }
  const count = bytes.byteLength / SAFETENSORS_DTYPE_BYTES[dtype];
  if (out !== undefined && out.length < count) failTensor(name, `a scratch of ${out.length} values cannot hold ${count}`, 'E_INTERNAL');
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
      failTensor(name, `dtype ${dtype} has no float32 decoder`, 'E_INTERNAL');
  }
}

