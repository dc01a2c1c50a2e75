import { describe, expect, it } from 'vitest';
import { ImageGPTImageProcessor, maskRows, type ImageInput, type PreprocessorConfig } from '../../src/processor';
import { parseJsonText } from '../../src/json';
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
    // Valid pixels the processor does not take, against a wrong argument: the codes tell them apart.
    expect(() => processor.encode({ data: pixels(4, 4, 2), width: 4, height: 4, channels: 2 })).toThrow(expect.objectContaining({ code: 'E_UNSUPPORTED' }));
    expect(() => processor.encode({ data: pixels(4, 4, 5), width: 4, height: 4, channels: 5 })).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
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
    // Pillow has filters 0..5 only (HF hands the number to Pillow, which refuses others too).
    expect(() => ImageGPTImageProcessor.fromConfig({ clusters, size: 32, resample: 6 })).toThrow(
      /^preprocessor config: resample 6 is not one of Pillow's filters: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming$/,
    );
    expect(() => ImageGPTImageProcessor.fromConfig({ clusters, size: 32, background_color: [255, 255] as never })).toThrow(
      /"background_color" must be \[r, g, b\] with integers 0\.\.255 \(or null\), got \[255, 255\]/,
    );
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

// Issue 12 kinds 1, 2 and 7 for preprocessor_config.json: types checked and named, no coercion, sizes bounded,
// deep nesting a short Error.
describe('preprocessor configs from untrusted JSON', () => {
  const clusters = fixture.clusters;
  const config = (fields: Record<string, unknown>) => ({ clusters, size: 32, ...fields }) as PreprocessorConfig;

  it('clusters holding strings or booleans are refused, not coerced to numbers', () => {
    expect(() => ImageGPTImageProcessor.fromConfig({ clusters: [[0.1, '0.2', true]], size: 32 } as unknown as PreprocessorConfig)).toThrow(
      /preprocessor config: cluster 0 has "0\.2" at position 1; expected a number/,
    );
    expect(() => ImageGPTImageProcessor.fromConfig({ clusters: [[0.1, 0.2, true]], size: 32 } as unknown as PreprocessorConfig)).toThrow(
      /cluster 0 has true at position 2; expected a number/,
    );
    expect(() => ImageGPTImageProcessor.fromConfig({ clusters: [[0, 0, 0], [0, null, 0]], size: 32 } as unknown as PreprocessorConfig)).toThrow(
      /cluster 1 has null at position 1/,
    );
    expect(() => new ImageGPTImageProcessor({ clusters: [['0', 0, 0]] as unknown as number[][] })).toThrow(/cluster 0 has "0" at position 0/);
  });

  it('clusters that are not an N×3 array', () => {
    expect(() => ImageGPTImageProcessor.fromConfig(config({ clusters: 'abc' }))).toThrow(/"clusters" must be an N×3 array of numbers, got "abc"/);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ clusters: { 0: [0, 0, 0] } }))).toThrow(/"clusters" must be an N×3 array/);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ clusters: [[0, 0, 0, 0]] }))).toThrow(/row 0 has 4 values/);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ clusters: [0, 0, 0] }))).toThrow(/row 0 has no values \(0\)/);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ clusters: new Array(65536).fill([0, 0, 0]) }))).toThrow(/65536 rows; at most 65535/);
  });

  it('size: an integer or { height, width } of integers, each side at most 4096 (kind 7: size 30000 ran out of memory)', () => {
    expect(() => ImageGPTImageProcessor.fromConfig(config({ size: 30000 }))).toThrow(
      /preprocessor config: target size is 30000×30000: each side must be at most 4096/,
    );
    expect(() => ImageGPTImageProcessor.fromConfig(config({ size: { height: 8, width: 5000 } }))).toThrow(/5000×8: each side must be at most 4096/);
    expect(() => new ImageGPTImageProcessor({ clusters, size: { height: 1e9, width: 1e9 } })).toThrow(/at most 4096/);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ size: '32' }))).toThrow(/"size" must be a number or \{ height, width \}, got "32"/);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ size: [32, 32] }))).toThrow(/"size" must be a number or \{ height, width \}, got \[32, 32\]/);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ size: { height: '32', width: 32 } }))).toThrow(
      /target size must be \{ height, width \} of integers, got height "32", width 32/,
    );
    expect(() => ImageGPTImageProcessor.fromConfig(config({ size: 32.5 }))).toThrow(/target size is 32\.5×32\.5: width and height must be integers/);
    expect(ImageGPTImageProcessor.fromConfig(config({ size: 4096 })).size).toEqual({ height: 4096, width: 4096 });
    expect(ImageGPTImageProcessor.fromConfig(config({ size: { height: 16, width: 8 } })).size).toEqual({ height: 16, width: 8 });
  });

  it('booleans are booleans: "false" is not taken as true', () => {
    expect(() => ImageGPTImageProcessor.fromConfig(config({ do_resize: 'false' }))).toThrow(/"do_resize" must be true or false, got "false"/);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ do_normalize: 0 }))).toThrow(/"do_normalize" must be true or false, got 0/);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ do_color_quantize: null }))).toThrow(/"do_color_quantize" must be true or false, got null/);
    expect(ImageGPTImageProcessor.fromConfig(config({ do_resize: false })).doResize).toBe(false);
    expect(() => ImageGPTImageProcessor.fromConfig(config({ resample: '2' }))).toThrow(/resample "2" is not one of Pillow's filters/);
  });

  it('not an object', () => {
    expect(() => ImageGPTImageProcessor.fromConfig([1] as unknown as PreprocessorConfig)).toThrow(/preprocessor config is not a JSON object: got \[1\]/);
    expect(() => ImageGPTImageProcessor.fromConfig(null as unknown as PreprocessorConfig, 'x/preprocessor_config.json')).toThrow(
      /x\/preprocessor_config\.json is not a JSON object: got null/,
    );
  });

  it('any field nested 5,000 deep is a short Error, not a stack overflow (kind 1)', () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    for (const key of ['clusters', 'size', 'resample', 'do_resize', 'do_normalize', 'do_color_quantize']) {
      const parsed = parseJsonText(`{"clusters": [[0, 0, 0]], "size": 32, "${key}": ${deep}}`, 'preprocessor_config.json');
      let message = '';
      try {
        ImageGPTImageProcessor.fromConfig(parsed as PreprocessorConfig, 'preprocessor_config.json');
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect(e).not.toBeInstanceOf(RangeError);
        message = (e as Error).message;
      }
      expect(message, key).toMatch(/^preprocessor_config\.json/);
      expect(message.length, key).toBeLessThan(300);
    }
    const inCluster = parseJsonText(`{"clusters": [[0, 0, ${deep}]], "size": 32}`, 'p.json') as PreprocessorConfig;
    expect(() => ImageGPTImageProcessor.fromConfig(inCluster)).toThrow(/cluster 0 has \[\[\[\[…1 item\]\]\]\] at position 2/);
    const inSize = parseJsonText(`{"clusters": [[0, 0, 0]], "size": {"height": ${deep}, "width": 2}}`, 'p.json') as PreprocessorConfig;
    expect(() => ImageGPTImageProcessor.fromConfig(inSize)).toThrow(/got height \[\[\[\[…1 item\]\]\]\], width 2/);
  });
});

// Issue 18 item 9: every public entry checks its arguments' types and names the method and what was expected,
// instead of an engine TypeError (or, for sparse arrays, holes in the answer).
describe('wrong argument types name the method', () => {
  const image = { data: pixels(4, 4, 3), width: 4, height: 4 };

  it('constructor without options, with null or with unknown or mistyped options', () => {
    const New = ImageGPTImageProcessor as unknown as new (o?: unknown) => ImageGPTImageProcessor;
    expect(() => new New()).toThrow(/^new ImageGPTImageProcessor: expected options \{ clusters, size\?, … \}, got undefined$/);
    expect(() => new New(null)).toThrow(/^new ImageGPTImageProcessor: expected options .*got null$/);
    expect(() => new New({ clusters: fixture.clusters, doResise: false })).toThrow(/^new ImageGPTImageProcessor: unknown option "doResise"; known options: clusters, size/);
    expect(() => new New({ clusters: fixture.clusters, doResize: 'no' })).toThrow(/^new ImageGPTImageProcessor: doResize must be true or false, got "no"$/);
    expect(() => new New({ clusters: null })).toThrow(/^new ImageGPTImageProcessor: clusters must be a non-empty N×3 array of numbers, got null$/);
    expect(() => new New({ clusters: fixture.clusters, background: 0 })).toThrow(/^new ImageGPTImageProcessor: background must be \[r, g, b\]/);
  });

  it('sparse arrays are refused, not read as holes or zeros', () => {
    expect(() => processor.encode(new Array(3) as ImageInput[])).toThrow(/^encode: images\[0\] is undefined: expected an image/);
    expect(() => processor.encode([image, , image] as ImageInput[])).toThrow(/^encode: images\[1\] is undefined/);
    expect(() => new ImageGPTImageProcessor({ clusters: [[0, 0, 0], new Array(3)] })).toThrow(/cluster 1 has undefined at position 0; expected a number/);
    expect(() => processor.encode(image, { background: new Array(3) as unknown as [number, number, number] })).toThrow(/^encode: background must be/);
    expect(() => processor.decode([1], { height: 1, width: 2, fill: new Array(4) as unknown as [number, number, number, number] })).toThrow(/^decode: fill must be/);
  });

  it('encode, resize and decode name themselves', () => {
    expect(() => processor.encode(null as unknown as ImageInput)).toThrow(/^encode: expected an image or an array of images, got null$/);
    expect(() => processor.encode(image, null as never)).toThrow(/^encode: options must be an object, got null$/);
    expect(() => processor.encode(image, { prependSOS: true } as never)).toThrow(/^encode: unknown option "prependSOS"/);
    expect(() => processor.resize(undefined as unknown as ImageInput)).toThrow(/^resize: the image is undefined: expected an image/);
    expect(() => processor.resize(image, null as never)).toThrow(/^resize: size must be \{ height, width \}, got null$/);
    expect(() => processor.decode(null as never)).toThrow(/^decode: tokens must be an array or typed array of token ids, got null$/);
    expect(() => processor.decode([1, 2, 3])).toThrow(/^decode: got 3 tokens for a 32×32 image; expected 1024/);
  });

  it('fromPretrained and fromConfig name themselves; size null is not the default', async () => {
    const config = { clusters: fixture.clusters, size: 2 };
    await expect(ImageGPTImageProcessor.fromPretrained(undefined as never)).rejects.toThrow(/^ImageGPTImageProcessor.fromPretrained: source must be a hub id/);
    await expect(ImageGPTImageProcessor.fromPretrained(config, null as never)).rejects.toThrow(/^ImageGPTImageProcessor.fromPretrained: options must be an object, got null$/);
    const missing = (async () => new Response('no', { status: 404 })) as typeof fetch;
    await expect(ImageGPTImageProcessor.fromPretrained('/m', { fetch: missing })).rejects.toThrow(/^ImageGPTImageProcessor.fromPretrained: .*\/m\/preprocessor_config.json: HTTP 404/);
    expect(() => ImageGPTImageProcessor.fromConfig(config, 5 as never)).toThrow(/^ImageGPTImageProcessor.fromConfig: origin must be a string naming the config, got 5$/);
    expect(() => ImageGPTImageProcessor.fromConfig(config, 'x', null as never)).toThrow(/^ImageGPTImageProcessor.fromConfig: overrides must be an object, got null$/);
    expect(() => ImageGPTImageProcessor.fromConfig(config, 'x', { backgrund: null } as never)).toThrow(/^ImageGPTImageProcessor.fromConfig: unknown option "backgrund"/);
    expect(() => new ImageGPTImageProcessor({ clusters: fixture.clusters, size: null as never })).toThrow(/^new ImageGPTImageProcessor: size must be \{ height, width \}, got null$/);
  });

  it('maskRows refuses holes in the rows it keeps', () => {
    expect(() => maskRows(new Array(4), { height: 2, width: 2, keepRows: 1 })).toThrow(/^maskRows: tokens\[0\] is undefined; expected a token id/);
    expect(maskRows([1, 2, 3, 4], { height: 2, width: 2, keepRows: 1 })).toEqual([1, 2]);
  });
});
