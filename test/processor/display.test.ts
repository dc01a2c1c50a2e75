import { describe, expect, it } from 'vitest';
import { ImageGPTImageProcessor, maskRows, upscaleNearest } from '../../src/processor';
import { fixture } from './fixture';

describe('display helpers', () => {
  const image = {
    width: 2,
    height: 2,
    data: new Uint8ClampedArray([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
  };

  it('upscaleNearest by an integer factor repeats each pixel in a block', () => {
    const big = upscaleNearest(image, 3);
    expect([big.width, big.height]).toEqual([6, 6]);
    const at = (x: number, y: number) => Array.from(big.data.slice((y * 6 + x) * 4, (y * 6 + x) * 4 + 4));
    expect(at(0, 0)).toEqual([1, 2, 3, 4]);
    expect(at(2, 2)).toEqual([1, 2, 3, 4]);
    expect(at(3, 0)).toEqual([5, 6, 7, 8]);
    expect(at(5, 5)).toEqual([13, 14, 15, 16]);
    expect(at(0, 3)).toEqual([9, 10, 11, 12]);
  });

  it('upscaleNearest to an exact size, from an unaligned view too', () => {
    const buffer = new Uint8ClampedArray(17);
    buffer.set(image.data, 1);
    const big = upscaleNearest({ ...image, data: buffer.subarray(1) }, { width: 5, height: 3 });
    // columns 0,1,2 → source 0 (floor(x·2/5) = 0, 0, 0); 3,4 → 1. rows 0,1 → 0; row 2 → 1.
    const px = (x: number, y: number) => big.data[(y * 5 + x) * 4];
    expect([px(0, 0), px(2, 0), px(3, 0), px(4, 1), px(0, 2), px(4, 2)]).toEqual([1, 1, 5, 5, 9, 13]);
    expect(() => upscaleNearest(image, 0)).toThrow(/positive integers/);
  });

  it('maskRows keeps the top rows; decode with fill shows them over a mask color', () => {
    const tokens = Array.from({ length: 12 }, (_, i) => i);
    expect(maskRows(tokens, { height: 4, width: 3, keepRows: 2 })).toEqual([0, 1, 2, 3, 4, 5]);
    expect(maskRows(tokens, { height: 4, width: 3, keepRows: 0 })).toEqual([]);
    expect(() => maskRows(tokens, { height: 4, width: 3, keepRows: 5 })).toThrow(/keepRows is 5: expected an integer 0\.\.4/);
    expect(() => maskRows(tokens, { height: 3, width: 3, keepRows: 1 })).toThrow(/12 tokens; expected height×width = 3×3 = 9/);

    const processor = new ImageGPTImageProcessor({ clusters: fixture.clusters, size: { height: 4, width: 3 } });
    const shown = processor.decode(maskRows(tokens, { height: 4, width: 3, keepRows: 2 }), { fill: [128, 128, 128, 255] });
    expect(Array.from(shown.data.slice(0, 4))).toEqual([...processor.palette.slice(0, 3), 255]);
    expect(Array.from(shown.data.slice(6 * 4))).toEqual(new Array(6).fill([128, 128, 128, 255]).flat());
  });

  it('bad arguments to upscaleNearest and maskRows are Errors that name them (issue 12 kinds 7, 10)', () => {
    const image = { data: new Uint8ClampedArray(4 * 4), width: 2, height: 2 };
    expect(() => upscaleNearest(undefined as never, 2)).toThrow(/upscaleNearest: expected an RGBA image/);
    expect(() => upscaleNearest({ ...image, data: [1, 2, 3] as never }, 2)).toThrow(/image\.data must be a Uint8Array/);
    expect(() => upscaleNearest(image, 'x' as never)).toThrow(/size must be an integer factor/);
    expect(() => upscaleNearest(image, 1e6)).toThrow(/more than 268435456 pixels/);
    expect(() => maskRows(undefined as never, { height: 2, width: 2, keepRows: 1 })).toThrow(/maskRows: tokens must be an array/);
    expect(() => maskRows([1, 2, 3, 4], null as never)).toThrow(/maskRows: expected \{ height, width, keepRows \}/);
    expect(() => maskRows([1, 2, 3, 4], { height: 2.5, width: 2, keepRows: 1 })).toThrow(/height and width must be positive integers/);
  });
});
