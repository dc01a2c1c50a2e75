import { ImageGPTError } from './errors';
// IEEE 754 half precision (binary16) and bfloat16, as raw 16-bit patterns in Uint16Array.
// Weights are stored and shipped as f16 bits; the GPU unpacks them itself (unpack2x16float),
// so these are for the CPU side: conversion tools, readback checks, tests.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Bit pattern of the float32 value `x` (a JS number is first rounded to float32). */
export function float32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0];
}

/** The float32 value with bit pattern `bits`. */
export function float32FromBits(bits: number): number {
  u32Scratch[0] = bits >>> 0;
  return f32Scratch[0];
}

/**
 * float32 → float16 bits, round to nearest, ties to even. Overflow becomes ±Infinity, values
 * below half the smallest subnormal become ±0, NaN stays NaN (quiet, top payload bits kept).
 * A JS number is rounded to float32 first, as the source tensors are float32.
 */
export function float32ToFloat16Bits(x: number): number {
  return float16FromFloat32Bits(float32Bits(x));
}

function float16FromFloat32Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // the f16 biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal in f16 (or zero): the result counts units of 2^-24.
    if (exp === 0) return sign; // f32 subnormals are far below 2^-25
    const shift = 14 - e;
    if (shift > 24) return sign;
    const m = 0x800000 | mant;
    let q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) !== 0)) q++;
    return sign | q; // q may reach 0x400: the smallest normal, encoded correctly
  }
  let q = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (q & 1) !== 0)) q++; // a carry into the exponent is right, up to Infinity
  return sign | q;
}

/** float16 bits → the value (exact: every f16 is a float32). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) {
    if (mant === 0) return sign * Infinity;
    return float32FromBits(((h & 0x8000) << 16) | 0x7f800000 | (mant << 13));
  }
  return float32FromBits(((h & 0x8000) << 16) | ((exp - 15 + 127) << 23) | (mant << 13));
}

/** bfloat16 bits → the value: bfloat16 is the top half of a float32. */
export function bfloat16BitsToFloat32(h: number): number {
  return float32FromBits((h & 0xffff) << 16);
}

let f16Table: Float32Array | null = null;

/**
 * Decodes a whole array of float16 bits (through a 64 K-entry table: tensors are large), into `out` when
 * given (a reused scratch, at least as long).
 */
export function float16ArrayToFloat32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  if (out.length < bits.length) throw new ImageGPTError('E_BAD_INPUT', `float16ArrayToFloat32: out has ${out.length} elements, needs ${bits.length}`);
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = float16BitsToFloat32(h);
  }
  const table = f16Table;
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** Encodes a whole array as float16 bits (round to nearest even), into `out` when given (a reused scratch). */
export function float32ArrayToFloat16(values: Float32Array, out: Uint16Array = new Uint16Array(values.length)): Uint16Array {
  if (out.length < values.length) throw new ImageGPTError('E_BAD_INPUT', `float32ArrayToFloat16: out has ${out.length} elements, needs ${values.length}`);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16FromFloat32Bits(bits[i]);
  return out;
}

/** Decodes a whole array of bfloat16 bits, into `out` when given (a reused scratch, at least as long). */
export function bfloat16ArrayToFloat32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  if (out.length < bits.length) throw new ImageGPTError('E_BAD_INPUT', `bfloat16ArrayToFloat32: out has ${out.length} elements, needs ${bits.length}`);
  const outBits = new Uint32Array(out.buffer, out.byteOffset, bits.length);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}
