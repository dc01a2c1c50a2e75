// Issue 18 item 14: transparent images. The shipped models were trained on emoji composited onto white, and their
// preprocessor_config.json says so (`background_color`, our extension): by default a transparent image gives
// what the same image composited onto white gives, through encode, complete, features and bitsPerToken;
// `background: null` drops alpha (Hugging Face's behaviour).
import { describe, it, expect, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getTestDevice } from '../helpers/gpu';
import { ImageGPT } from '../../src/model/imagegpt';
import { ImageGPTImageProcessor, type PixelImage, type PreprocessorConfig } from '../../src/processor/index';
import { makeImage } from './synthetic';

const MODEL = join(__dirname, '..', '..', 'models', 'emoji-16');
const config = JSON.parse(readFileSync(join(MODEL, 'preprocessor_config.json'), 'utf8')) as PreprocessorConfig;

// A 40×40 emoji-like RGBA image: a disc on a transparent field, with a band of half-transparent pixels.
const transparent = makeImage('shapes', 40, 40, 4, 31);
for (let p = 0; p < 40 * 40; p++) if (Math.floor(p / 40) % 7 === 3) transparent.data[4 * p + 3] = 96;

/** Composited onto white by Pillow's integer rule (resize.test.ts checks it against Pillow itself). */
function onWhite(image: PixelImage): PixelImage {
  const rgb = new Uint8Array((image.data.length / 4) * 3);
  for (let p = 0, o = 0; p < image.data.length; p += 4) {
    const a = image.data[p + 3];
    for (let c = 0; c < 3; c++) rgb[o++] = Math.floor((image.data[p + c] * a + 255 * (255 - a) + 127) / 255);
  }
  return { data: rgb, width: image.width, height: image.height, channels: 3 };
}

function alphaDropped(image: PixelImage): PixelImage {
  const rgb = new Uint8Array((image.data.length / 4) * 3);
  for (let p = 0, o = 0; p < image.data.length; p += 4) for (let c = 0; c < 3; c++) rgb[o++] = image.data[p + c];
  return { data: rgb, width: image.width, height: image.height, channels: 3 };
}

const white = onWhite(transparent);
const dropped = alphaDropped(transparent);

describe('the shipped models composite transparent images onto white by default', () => {
  it('emoji-16 config says white; the processor reads it, and fromPretrained / encode can override it', async () => {
    expect(config.background_color).toEqual([255, 255, 255]);
    const emoji32 = JSON.parse(readFileSync(join(MODEL, '..', 'emoji-32', 'preprocessor_config.json'), 'utf8')) as PreprocessorConfig;
    expect(emoji32.background_color).toEqual([255, 255, 255]);
    const processor = await ImageGPTImageProcessor.fromPretrained(config);
    expect(processor.background).toEqual([255, 255, 255]);
    const ids = processor.encode(transparent).inputIds[0];
    expect(ids).toEqual(processor.encode(white).inputIds[0]);
    // The black transparent corners would be other tokens: the test would mean nothing if they agreed.
    const droppedIds = processor.encode(dropped).inputIds[0];
    expect(droppedIds.filter((t, i) => t !== ids[i]).length).toBeGreaterThan(50);
    expect(processor.encode(transparent, { background: null }).inputIds[0]).toEqual(droppedIds);
    const hfLike = await ImageGPTImageProcessor.fromPretrained(config, { background: null });
    expect(hfLike.background).toBeUndefined();
    expect(hfLike.encode(transparent).inputIds[0]).toEqual(droppedIds);
    // A config without the field (every hub checkpoint) drops alpha, as Hugging Face does.
    const { background_color: _, ...hub } = config;
    expect(ImageGPTImageProcessor.fromConfig(hub).background).toBeUndefined();
    await expect(ImageGPTImageProcessor.fromPretrained(config, { background: [1, 2] as never })).rejects.toThrow(
      /^ImageGPTImageProcessor.fromPretrained: background must be \[r, g, b\] with integers 0..255, got \[1, 2\]$/,
    );
  });

  describe('complete, features and bitsPerToken on models/emoji-16', () => {
    let model: ImageGPT;
    let processor: ImageGPTImageProcessor;
    afterAll(() => model?.dispose());

    it('loads', async () => {
      processor = ImageGPTImageProcessor.fromConfig(config);
      model = await ImageGPT.fromPretrained(
        { config: JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')), weights: new Uint8Array(readFileSync(join(MODEL, 'model.safetensors'))) },
        { device: await getTestDevice(), dtype: 'f16' },
      );
    });

    it('complete: greedy completions of the transparent image equal those of it on white; null drops alpha', async () => {
      // keepRows 14: the prompt is what the background changes; two generated rows show it reaches the samples.
      const run = (image: PixelImage, extra: object = {}) => model.complete(image, { processor, keepRows: 14, temperature: 0, ...extra });
      const [byDefault] = await run(transparent);
      const [expected] = await run(white);
      expect(Array.from(byDefault.tokens)).toEqual(Array.from(expected.tokens));
      const [none] = await run(transparent, { background: null });
      expect(Array.from(none.tokens.subarray(0, 224))).toEqual(processor.encode(dropped).inputIds[0].slice(0, 224));
      expect(Array.from(none.tokens.subarray(0, 224))).not.toEqual(Array.from(expected.tokens.subarray(0, 224)));
      await expect(run(transparent, { background: 'white' as never })).rejects.toThrow(/^complete: background must be \[r, g, b\]/);
    });

    it('features and bitsPerToken: the same numbers as for the image on white', async () => {
      // One batch each: [transparent, on white, alpha dropped], by default and with background null.
      const images = [transparent, white, dropped];
      const rows = (f: Float32Array, i: number) => Array.from(f.subarray(i * 128, (i + 1) * 128));
      const byDefault = (await model.features(images, { layers: [2], processor })).get(2)!;
      expect(rows(byDefault, 0)).toEqual(rows(byDefault, 1));
      expect(rows(byDefault, 0)).not.toEqual(rows(byDefault, 2));
      const none = (await model.features(images, { layers: [2], processor, background: null })).get(2)!;
      expect(rows(none, 0)).toEqual(rows(byDefault, 2));

      const bits = await model.bitsPerToken(images, { processor });
      expect(bits.bitsPerToken[0]).toBe(bits.bitsPerToken[1]);
      expect(Array.from(bits.surprise.subarray(0, 256))).toEqual(Array.from(bits.surprise.subarray(256, 512)));
      expect(bits.bitsPerToken[0]).not.toBe(bits.bitsPerToken[2]);
      const bitsNone = await model.bitsPerToken(images, { processor, background: null });
      expect(bitsNone.bitsPerToken[0]).toBe(bits.bitsPerToken[2]);
    });
  });
});
