// A processor made for another model is refused before any GPU work: its palette must hold one color per image token
// (vocab_size − 1) and its images n_positions tokens; ImageGPTError 'E_MISMATCH' naming both numbers.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadModelFixture } from '../helpers/fixtures';
import { failure } from '../helpers/failure';
import { ImageGPT } from '../../src/model/imagegpt';
import { parseImageGPTConfig } from '../../src/model/config';
import { checkProcessorMatches } from '../../src/model/tasks/processor';
import { ImageGPTImageProcessor } from '../../src/processor/processor';
import { errorCode } from '../../src/errors';

const tiny = loadModelFixture('tiny'); // vocab_size 513 (512 colors + SOS), n_positions 64 (8×8)
const config = parseImageGPTConfig(tiny.configJson);
const palette = (n: number) => Array.from({ length: n }, (_, i): [number, number, number] => [i / n, 0, 0]);

describe('processor/model consistency', () => {
  it('checkProcessorMatches: palette vs vocab_size − 1, height × width vs n_positions; absent fields are not checked', () => {
    expect(() => checkProcessorMatches(config, { encode: () => ({ inputIds: [] }), numClusters: 512, size: { height: 8, width: 8 } }, 'complete')).not.toThrow();
    expect(() => checkProcessorMatches(config, { encode: () => ({ inputIds: [] }) }, 'complete')).not.toThrow();
    const colors = (() => {
      try {
        checkProcessorMatches(config, { encode: () => ({ inputIds: [] }), numClusters: 16 }, 'complete');
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(errorCode(colors)).toBe('E_MISMATCH');
    expect((colors as Error).message).toBe('complete: the processor has 16 colors, the model 512 image tokens (vocab_size − 1); use the processor made for this model');
    expect(() => checkProcessorMatches(config, { encode: () => ({ inputIds: [] }), size: { height: 16, width: 16 } }, 'features')).toThrow(
      /^features: the processor makes 16×16 = 256 tokens per image, the model expects n_positions = 64/,
    );
  });

  describe('on the model (tiny, f32)', () => {
    let model: ImageGPT;
    beforeAll(async () => {
      model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f32' });
    });
    afterAll(() => model?.dispose());

    it('complete, features and bitsPerToken refuse a processor of another size or palette, naming both numbers', async () => {
      const image = { data: new Uint8ClampedArray(16 * 16 * 4).fill(255), width: 16, height: 16 };
      const big = new ImageGPTImageProcessor({ clusters: palette(512), size: { height: 16, width: 16 } });
      const few = new ImageGPTImageProcessor({ clusters: palette(16), size: { height: 8, width: 8 } });
      const before = model.memory().sessionBytes;
      for (const [call, message] of [
        [() => model.complete(image, { processor: big, keepRows: 2 }), /^complete: the processor makes 16×16 = 256 tokens per image, the model expects n_positions = 64/],
        [() => model.complete(image, { processor: few, keepRows: 2 }), /^complete: the processor has 16 colors, the model 512 image tokens/],
        [() => model.features([image], { layers: [1], processor: few }), /^features: the processor has 16 colors, the model 512 image tokens/],
        [() => model.bitsPerToken([image], { processor: big }), /^bitsPerToken: the processor makes 16×16 = 256 tokens per image/],
      ] as const) {
        const e = await failure(call);
        expect(e.message).toMatch(message);
        expect(errorCode(e)).toBe('E_MISMATCH');
      }
      expect(model.memory().sessionBytes).toBe(before); // nothing was allocated
      // The matching processor works.
      const right = new ImageGPTImageProcessor({ clusters: palette(512), size: { height: 8, width: 8 } });
      const [done] = await model.complete(image, { processor: right, keepRows: 7, temperature: 0 });
      expect(done.tokens.length).toBe(64);
    });
  });
});
