import { describe, expect, it } from 'vitest';
import { ImageGPTImageProcessor, type ImageInput } from '../../src/processor';
import { fixture } from './fixture';

const processor = new ImageGPTImageProcessor({ clusters: fixture.clusters });
const pixels = (width: number, height: number, channels: number) => new Uint8Array(width * height * channels);

describe('bad images are clear errors', () => {
  it('zero-size image', () => {
    expect(() => processor.encode({ data: pixels(0, 5, 3), width: 0, height: 5 })).toThrow(/0×5.*at least 1/);
    expect(() => processor.encode({ data: pixels(4, 0, 3), width: 4, height: 0, channels: 3 })).toThrow(/4×0/);
  });

  it('data length not matching width×height×channels', () => {
    expect(() => processor.encode({ data: pixels(4, 4, 3).subarray(1), width: 4, height: 4, channels: 3 })).toThrow(
      /47 values; expected width×height×channels = 4×4×3/,
    );
    expect(() => processor.encode({ data: pixels(4, 4, 5), width: 4, height: 4 })).toThrow(/80 values.*4×4×\(1, 3 or 4\)/);
  });

  it('2-channel data', () => {
    expect(() => processor.encode({ data: pixels(4, 4, 2), width: 4, height: 4 })).toThrow(/2-channel/);
    expect(() => processor.encode({ data: pixels(4, 4, 2), width: 4, height: 4, channels: 2 })).toThrow(/2-channel/);
    expect(() => processor.encode({ data: pixels(4, 4, 5), width: 4, height: 4, channels: 5 })).toThrow(/channels = 5/);
  });

  it('pixels that are not 8-bit, and things that are not images', () => {
    const floats = { data: new Float32Array(48), width: 4, height: 4 } as unknown as ImageInput;
    expect(() => processor.encode(floats)).toThrow(/Uint8Array or Uint8ClampedArray/);
    expect(() => processor.encode(42 as unknown as ImageInput)).toThrow(/expected an image/);
    // A canvas-like object in Node: there is no canvas to read it with.
    expect(() => processor.encode({ width: 4, height: 4 } as unknown as ImageInput)).toThrow(/no OffscreenCanvas or document/);
  });

  it('bad target size and background', () => {
    const image = { data: pixels(4, 4, 3), width: 4, height: 4 };
    expect(() => processor.resize(image, { height: 0, width: 8 })).toThrow(/target size is 8×0/);
    expect(() => processor.resize(image, { height: 2.5, width: 8 })).toThrow(/integers/);
    expect(() => processor.encode(image, { background: [255, 255, 256] })).toThrow(/background must be \[r, g, b\]/);
    expect(() => new ImageGPTImageProcessor({ clusters: fixture.clusters, size: { height: -1, width: 32 } })).toThrow(/32×-1/);
  });
});

describe('bad clusters are clear errors', () => {
  it('not N×3', () => {
    expect(() => new ImageGPTImageProcessor({ clusters: [[0, 0, 0], [0, 0]] })).toThrow(/row 1 has 2 values/);
    expect(() => new ImageGPTImageProcessor({ clusters: [] })).toThrow(/non-empty N×3/);
    expect(() => new ImageGPTImageProcessor({ clusters: new Float32Array(10) })).toThrow(/flat array of 10/);
  });

  it('NaN or values outside [-1, 1]', () => {
    expect(() => new ImageGPTImageProcessor({ clusters: [[0, 0, 0], [0, NaN, 0]] })).toThrow(/cluster 1 has a non-finite value \(NaN\)/);
    expect(() => new ImageGPTImageProcessor({ clusters: [[0, 0, 1.5]] })).toThrow(/cluster 0 has 1.5, outside/);
  });

  it('unusable preprocessor configs', () => {
    const clusters = fixture.clusters;
    expect(() => ImageGPTImageProcessor.fromConfig({ size: 32 })).toThrow(/no "clusters"/);
    expect(() => ImageGPTImageProcessor.fromConfig({ clusters, size: 32, resample: 3 })).toThrow(/resample 3/);
    expect(() => ImageGPTImageProcessor.fromConfig({ clusters, size: 32, do_normalize: false })).toThrow(/do_normalize/);
    expect(() => ImageGPTImageProcessor.fromConfig({ clusters, size: 32, do_color_quantize: false })).toThrow(/do_color_quantize/);
    expect(() => ImageGPTImageProcessor.fromConfig({ clusters })).toThrow(/"size" must be/);
  });
});

describe('bad tokens are clear errors', () => {
  it('token ids outside the cluster range', () => {
    const tokens = new Array<number>(1024).fill(3);
    tokens[5] = 512;
    expect(() => processor.decode(tokens)).toThrow(/token 512 at index 5 is outside the cluster range 0\.\.511 \(512 is SOS/);
    tokens[5] = -1;
    expect(() => processor.decode(tokens)).toThrow(/token -1 at index 5/);
    tokens[5] = 1.5;
    expect(() => processor.decode(tokens)).toThrow(/token 1.5 at index 5/);
  });

  it('token count not matching the size', () => {
    expect(() => processor.decode(new Array<number>(1025).fill(0))).toThrow(/1025 tokens for a 32×32 image; expected 1024/);
    expect(() => processor.decode([1, 2, 3])).toThrow(/pass `fill`/);
    expect(() => processor.decode([1], { height: 1, width: 2, fill: [0, 0, 0] as unknown as [number, number, number, number] })).toThrow(/fill must be/);
  });
});
