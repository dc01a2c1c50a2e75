import { describe, it, expect } from 'vitest';
import {
  bfloat16ArrayToFloat32,
  bfloat16BitsToFloat32,
  float16ArrayToFloat32,
  float16BitsToFloat32,
  float32ArrayToFloat16,
  float32ToFloat16Bits,
} from '../../src/f16';

// An independent decode from the IEEE 754 definition, in float64 arithmetic.
function referenceDecode(h: number): number {
  const sign = h >> 15 ? -1 : 1;
  const exp = (h >> 10) & 31;
  const frac = h & 1023;
  if (exp === 0) return sign * (frac / 1024) * Math.pow(2, -14);
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * Math.pow(2, exp - 15);
}

const isNaNBits = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('float16', () => {
  it('decodes all 65536 bit patterns exactly', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const table = float16ArrayToFloat32(all);
    for (let h = 0; h < 65536; h++) {
      const want = referenceDecode(h);
      expect(Object.is(float16BitsToFloat32(h), want) || (Number.isNaN(want) && Number.isNaN(float16BitsToFloat32(h)))).toBe(true);
      expect(Object.is(table[h], want) || (Number.isNaN(want) && Number.isNaN(table[h]))).toBe(true);
    }
  });

  it('encodes every float16 value back to its own bits (NaN stays NaN)', () => {
    for (let h = 0; h < 65536; h++) {
      const back = float32ToFloat16Bits(referenceDecode(h));
      if (isNaNBits(h)) expect(isNaNBits(back)).toBe(true);
      else expect(back).toBe(h);
    }
  });

  it('rounds to nearest, ties to even, between every pair of neighbours', () => {
    // Positive finite neighbours lo < hi (bits h, h+1), including subnormals and the step to Infinity.
    for (let h = 0; h < 0x7c00; h++) {
      const lo = referenceDecode(h);
      const hi = h + 1 === 0x7c00 ? 65536 : referenceDecode(h + 1); // past the largest: 2^16, which rounds to Infinity
      const mid = (lo + hi) / 2; // exact in float32: at most 12 significant bits
      const even = h % 2 === 0 ? h : h + 1;
      expect(float32ToFloat16Bits(mid)).toBe(even);
      expect(float32ToFloat16Bits(-mid)).toBe(even | 0x8000);
      // Just off the midpoint (one float32 ulp) goes to the nearer neighbour.
      const ulp = Math.pow(2, Math.floor(Math.log2(mid)) - 23);
      expect(float32ToFloat16Bits(mid - ulp)).toBe(h);
      expect(float32ToFloat16Bits(mid + ulp)).toBe(h + 1);
    }
  });

  it('handles overflow, underflow, signed zero and specials', () => {
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // the midpoint to 2^16 rounds to even = Infinity
    expect(float32ToFloat16Bits(1e10)).toBe(0x7c00);
    expect(float32ToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(isNaNBits(float32ToFloat16Bits(NaN))).toBe(true);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(float32ToFloat16Bits(Math.pow(2, -25))).toBe(0); // half the smallest subnormal: tie to even (0)
    expect(float32ToFloat16Bits(Math.pow(2, -25) * 1.0001)).toBe(1);
    expect(float32ToFloat16Bits(1e-30)).toBe(0);
    expect(float32ToFloat16Bits(-1e-45)).toBe(0x8000); // a float32 subnormal
  });

  it('array encoder agrees with the scalar one', () => {
    const values = new Float32Array(10000);
    for (let i = 0; i < values.length; i++) values[i] = (Math.sin(i * 12.9898) * 43758.5453) % 70000 / (1 + (i % 300));
    const bits = float32ArrayToFloat16(values);
    for (let i = 0; i < values.length; i++) expect(bits[i]).toBe(float32ToFloat16Bits(values[i]));
  });
});

describe('bfloat16', () => {
  it('decodes as the top half of a float32', () => {
    const bits = new Uint16Array([0x3f80, 0xbf80, 0x4049, 0x7f80, 0x0001, 0x8000]);
    const want = [1, -1, 3.140625, Infinity, Math.pow(2, -133), -0];
    const out = bfloat16ArrayToFloat32(bits);
    for (let i = 0; i < bits.length; i++) {
      expect(Object.is(out[i], want[i])).toBe(true);
      expect(Object.is(bfloat16BitsToFloat32(bits[i]), want[i])).toBe(true);
    }
  });
});
