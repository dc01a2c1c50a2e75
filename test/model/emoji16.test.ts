// End to end on the shipped model: pixels → processor → tokens → WebGPU logits and greedy completion,
// against the PyTorch reference's numbers for the same f16 weights.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getTestDevice } from '../helpers/gpu';
import { FIXTURES, relError } from '../helpers/fixtures';
import { parseSafetensors, tensorToFloat32 } from '../../src/safetensors';
import { ImageGPT } from '../../src/model/imagegpt';
import { ImageGPTImageProcessor } from '../../src/processor/index';

const MODEL = join(__dirname, '..', '..', 'models', 'emoji-16');

describe('models/emoji-16 end to end', () => {
  it('tokens from pixels, logits and greedy completion match the PyTorch reference', async () => {
    const expected = parseSafetensors(new Uint8Array(readFileSync(join(FIXTURES, 'emoji16', 'expected.safetensors'))));
    const t = (name: string) => expected.tensors.get(name)!;
    const int32 = (name: string) => new Int32Array(t(name).data.slice().buffer);
    const tokens = int32('tokens');
    const greedy = int32('greedy_tokens');
    const pixels = t('pixels').data;
    const greedyFrom = Number(expected.metadata.greedy_from);

    const processor = await ImageGPTImageProcessor.fromPretrained(JSON.parse(readFileSync(join(MODEL, 'preprocessor_config.json'), 'utf8')));
    const images = [0, 1].map((b) => ({ data: pixels.slice(b * 768, (b + 1) * 768), width: 16, height: 16, channels: 3 as const }));
    const { inputIds } = processor.encode(images);
    expect(inputIds[0]).toEqual(Array.from(tokens.subarray(0, 256)));
    expect(inputIds[1]).toEqual(Array.from(tokens.subarray(256, 512)));

    const model = await ImageGPT.fromPretrained(
      { config: JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')), weights: new Uint8Array(readFileSync(join(MODEL, 'model.safetensors'))) },
      { device: await getTestDevice(), dtype: 'f16' },
    );
    try {
      const ids = [0, 1].map((b) => Array.from(int32('input_ids').subarray(b * 256, (b + 1) * 256)));
      const { logits } = await model.forward(ids);
      // The weights are f16 in both; only the activations' precision differs (f32 here, f64 there).
      expect(relError(logits, tensorToFloat32(t('logits')))).toBeLessThan(1e-3);

      const out = await model.generate({ prompt: inputIds.map((r) => r.slice(0, greedyFrom)), temperature: 0 });
      expect(Array.from(out)).toEqual(Array.from(greedy));
      // The README's keepRows: 16 keeps every row of this 16×16 model: an error naming the height, not a no-op.
      await expect(model.complete(inputIds[0], { processor, keepRows: 16 })).rejects.toThrow(
        /^complete: keepRows must be an integer in 0\.\.15 \(the image is 16 token rows high; at least one row is generated\), got 16$/,
      );
    } finally {
      model.dispose();
    }
  });
});
