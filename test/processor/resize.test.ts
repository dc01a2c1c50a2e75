import { describe, expect, it } from 'vitest';
import { ImageGPTImageProcessor } from '../../src/processor';
import { bytes, fixture } from './fixture';
import { makeImage } from './synthetic';

const processor = new ImageGPTImageProcessor({ clusters: fixture.clusters });

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  const i = a.findIndex((v, k) => v !== b[k]);
  return i < 0 ? 'none' : `byte ${i} (pixel ${Math.floor(i / 3)}, channel ${i % 3}): ours ${a[i]}, Pillow ${b[i]}`;
}

describe('resize is byte-exact with Pillow BILINEAR', () => {
  for (const c of fixture.cases) {
    it(`${c.name} (${c.channels} channels)`, () => {
      const image = makeImage(c.kind, c.width, c.height, c.channels, c.seed);
      for (const out of c.outputs) {
        const ours = processor.resize(image, { height: out.height, width: out.width });
        const pillow = bytes(out.rgb);
        expect([ours.width, ours.height, ours.channels]).toEqual([out.width, out.height, 3]);
        expect(firstDifference(ours.data, pillow), `${out.height}×${out.width}`).toBe('none');
        if (out.rgbOnWhite) {
          const onWhite = processor.resize(image, { height: out.height, width: out.width }, { background: [255, 255, 255] });
          expect(firstDifference(onWhite.data, bytes(out.rgbOnWhite)), `on white ${out.height}×${out.width}`).toBe('none');
        }
      }
    });
  }

  it('covers shrinking, enlarging, both at once, one axis only, same size and 1-pixel sides', () => {
    const shapes = fixture.cases.flatMap((c) => c.outputs.map((o) => [c.width / o.width, c.height / o.height]));
    expect(shapes.some(([x, y]) => x > 1 && y > 1)).toBe(true);
    expect(shapes.some(([x, y]) => x < 1 && y < 1)).toBe(true);
    expect(shapes.some(([x, y]) => x < 1 && y > 1)).toBe(true);
    expect(shapes.some(([x, y]) => x === 1 && y === 1)).toBe(true);
    expect(shapes.some(([x, y]) => x === 1 && y > 1) && shapes.some(([x, y]) => x === 1 && y < 1)).toBe(true);
    expect(shapes.some(([x, y]) => x !== 1 && y === 1)).toBe(true);
    expect(fixture.cases.some((c) => c.width === 1) && fixture.cases.some((c) => c.height === 1)).toBe(true);
    expect(fixture.cases.filter((c) => c.outputs.some((o) => o.rgbOnWhite)).length).toBeGreaterThanOrEqual(2);
  });
});
