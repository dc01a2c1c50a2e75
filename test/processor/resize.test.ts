import { describe, expect, it } from 'vitest';
import { ImageGPTImageProcessor, type ResampleFilter } from '../../src/processor';
import { bytes, filterFixture, fixture } from './fixture';
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

// Issue 18 item 18: HF passes the config's `resample` to Pillow; each of Pillow's filters is byte-exact too.
describe('the other Pillow filters are byte-exact (NEAREST, BOX, HAMMING, BICUBIC, LANCZOS)', () => {
  const byName = new Map(fixture.cases.map((c) => [c.name, c]));
  for (const [filter, number] of Object.entries(filterFixture.filters)) {
    it(`${filter} (Pillow ${number}) on ${filterFixture.cases.length} images × 3 sizes`, () => {
      const p = new ImageGPTImageProcessor({ clusters: fixture.clusters, resample: filter as ResampleFilter });
      for (const c of filterFixture.cases) {
        const source = byName.get(c.name)!;
        const image = makeImage(source.kind, source.width, source.height, source.channels, source.seed);
        for (const out of c.outputs) {
          const ours = p.resize(image, { height: out.height, width: out.width });
          expect(firstDifference(ours.data, bytes(out.rgb[filter])), `${c.name} → ${out.height}×${out.width}`).toBe('none');
        }
      }
    });
  }

  it('the fixture covers every filter, with shrinking and enlarging', () => {
    expect(Object.keys(filterFixture.filters).sort()).toEqual(['bicubic', 'box', 'hamming', 'lanczos', 'nearest']);
    const names = filterFixture.cases.map((c) => c.name);
    expect(names).toContain('texture-640x427');
    expect(names).toContain('noise-1x1');
  });

  it('a config picks the filter by its Pillow number, and encode uses it', () => {
    const image = makeImage('texture', 64, 48, 3, 3);
    for (const [filter, number] of Object.entries(filterFixture.filters)) {
      const p = ImageGPTImageProcessor.fromConfig({ clusters: fixture.clusters, size: 32, resample: number });
      expect(p.resample).toBe(filter);
      const expected = new ImageGPTImageProcessor({ clusters: fixture.clusters, doResize: false })
        .encode({ data: bytes(filterFixture.cases[2].outputs[0].rgb[filter]), width: 32, height: 32 }).inputIds;
      expect(filterFixture.cases[2].name).toBe('texture-64x48');
      expect(p.encode(image).inputIds).toEqual(expected);
    }
  });
});
