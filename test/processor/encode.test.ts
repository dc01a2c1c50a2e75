import { describe, expect, it, vi } from 'vitest';
import { ImageGPTImageProcessor, type PreprocessorConfig } from '../../src/processor';
import { ColorQuantizer } from '../../src/processor/quantize';
import { bytes, fixture } from './fixture';
import { makeImage } from './synthetic';

const processor = new ImageGPTImageProcessor({ clusters: fixture.clusters });

function processorFor(height: number, width: number): ImageGPTImageProcessor {
  return new ImageGPTImageProcessor({ clusters: fixture.clusters, size: { height, width } });
}

describe('encode gives the tokens of HF color_quantize (numpy, float32 pixels, float64 clusters)', () => {
  const noResize = new ImageGPTImageProcessor({ clusters: fixture.clusters, doResize: false });
  for (const c of fixture.cases) {
    it(c.name, () => {
      // Quantizing Pillow's resized bytes checks the tokens alone (resize.test.ts checks the bytes); the
      // whole path, resize included, runs on every image but the 4000×3000 one (slow to rebuild twice).
      const endToEnd = c.width * c.height <= 1024 * 1024;
      const image = endToEnd ? makeImage(c.kind, c.width, c.height, c.channels, c.seed) : undefined;
      for (const out of c.outputs) {
        const pillow = { data: bytes(out.rgb), width: out.width, height: out.height };
        expect(noResize.encode(pillow).inputIds[0], `${out.height}×${out.width}`).toEqual(out.tokens);
        if (image) {
          const { inputIds } = processorFor(out.height, out.width).encode(image);
          expect(inputIds).toHaveLength(1);
          expect(inputIds[0], `${out.height}×${out.width}, end to end`).toEqual(out.tokens);
        }
      }
    });
  }

  it('colors straight to tokens, including exact ties between duplicated clusters', () => {
    const colors = bytes(fixture.colors);
    const { inputIds } = noResize.encode({ data: colors, width: colors.length / 3, height: 1, channels: 3 });
    expect(inputIds[0]).toEqual(fixture.colorTokens);
    // Duplicated rows exist, and the fixture's answers name the first copy.
    const key = (i: number) => fixture.clusters[i].join(',');
    const firstOf = new Map<string, number>();
    fixture.clusters.forEach((_, i) => firstOf.has(key(i)) || firstOf.set(key(i), i));
    expect(firstOf.size).toBeLessThan(fixture.clusters.length);
    const hitsDuplicated = fixture.colorTokens.filter((t) => fixture.clusters.some((_, j) => j > t && key(j) === key(t)));
    expect(hitsDuplicated.length).toBeGreaterThan(0);
    expect(fixture.colorTokens.every((t) => firstOf.get(key(t)) === t)).toBe(true);
  });

  it('near ties: the expanded form decides, as in HF (the direct distance would differ)', () => {
    const { clusters, colors, tokens } = fixture.nearTies;
    const rgb = bytes(colors);
    const p = new ImageGPTImageProcessor({ clusters, doResize: false });
    expect(p.encode({ data: rgb, width: rgb.length / 3, height: 1 }).inputIds[0]).toEqual(tokens);
    // The fixture only tests the expanded form if the plain float64 distance picks otherwise somewhere.
    const x = Array.from(rgb, (v) => Math.fround(Math.fround(v * (1 / 127.5)) - 1));
    const direct = tokens.map((_, i) => {
      const d = clusters.map((c) => c.reduce((sum, cv, a) => sum + (x[3 * i + a] - cv) ** 2, 0));
      return d.indexOf(Math.min(...d));
    });
    expect(direct.filter((t, i) => t !== tokens[i]).length).toBeGreaterThan(10);
  });

  it('the cell search agrees with evaluating every cluster', () => {
    // Random colors, plus clusters packed so tightly that many candidates and near-ties occur.
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    const packed = Float64Array.from({ length: 512 * 3 }, (_, i) => ((i * 7919) % 1000) / 4000 - 0.1 + (i % 3) * 0.3);
    const sets = [fixture.clusters.flat(), fixture.nearTies.clusters.flat(), packed].map((c) => Float64Array.from(c));
    for (const clusters of sets) {
      const q = new ColorQuantizer(clusters);
      for (let i = 0; i < 20000; i++) {
        const [r, g, b] = [next(), next(), next()];
        if (q.nearest(r, g, b) !== q.nearestExhaustive(r, g, b)) {
          throw new Error(`color ${r},${g},${b}: cell search ${q.nearest(r, g, b)}, exhaustive ${q.nearestExhaustive(r, g, b)}`);
        }
      }
    }
  });
});

// Issue 18 item 18: with do_normalize false HF quantizes the 0..255 pixels against the clusters (numpy squares
// the uint8 pixels in uint8, wrapping); the fixture's tokens are that expression run by numpy.
describe('do_normalize false: tokens of the raw 0..255 pixels, as HF makes them', () => {
  const raw = ImageGPTImageProcessor.fromConfig({ clusters: fixture.clusters, size: 32, do_normalize: false, do_resize: false });

  it('reads do_normalize false from a config', () => {
    expect(raw.normalize).toBe(false);
    expect(ImageGPTImageProcessor.fromConfig({ clusters: fixture.clusters, size: 32 }).normalize).toBe(true);
  });

  it('colors straight to tokens', () => {
    const colors = bytes(fixture.colors);
    expect(raw.encode({ data: colors, width: colors.length / 3, height: 1 }).inputIds[0]).toEqual(fixture.colorTokensRaw);
    // Not the normalized answer: the fixture would not test anything if they agreed.
    expect(fixture.colorTokensRaw.filter((t, i) => t !== fixture.colorTokens[i]).length).toBeGreaterThan(1000);
  });

  it('every image and size, resize included', () => {
    for (const c of fixture.cases.filter((k) => k.width * k.height <= 1024 * 1024)) {
      const image = makeImage(c.kind, c.width, c.height, c.channels, c.seed);
      for (const out of c.outputs) {
        const p = new ImageGPTImageProcessor({ clusters: fixture.clusters, size: { height: out.height, width: out.width }, normalize: false });
        expect(p.encode(image).inputIds[0], `${c.name} ${out.height}×${out.width}`).toEqual(out.tokensRaw);
      }
    }
  });

  it('the cell search agrees with evaluating every cluster', () => {
    const q = new ColorQuantizer(Float64Array.from(fixture.clusters.flat()), false);
    for (let v = 0; v < 4096; v++) {
      const [r, g, b] = [(v * 37) & 255, (v * 101) & 255, (v * 7 + (v >> 8)) & 255];
      expect(q.nearest(r, g, b)).toBe(q.nearestExhaustive(r, g, b));
    }
  });
});

describe('encode options', () => {
  const image = makeImage('texture', 40, 30, 3, 21);

  it('encodes a batch as one row per image, row-major', () => {
    const other = makeImage('noise', 20, 20, 3, 22);
    const { inputIds } = processor.encode([image, other]);
    expect(inputIds).toHaveLength(2);
    expect(inputIds[0]).toEqual(processor.encode(image).inputIds[0]);
    expect(inputIds[1]).toEqual(processor.encode(other).inputIds[0]);
    // Row-major: the token at (y, x) is the quantized resized pixel at (y, x).
    const rgb = processor.resize(image);
    const q = new ColorQuantizer(processor.clusters);
    const [y, x] = [5, 17];
    const p = (y * 32 + x) * 3;
    expect(inputIds[0][y * 32 + x]).toBe(q.nearestExhaustive(rgb.data[p], rgb.data[p + 1], rgb.data[p + 2]));
  });

  it('prependSos puts SOS (= number of clusters) first and drops the last token', () => {
    const plain = processor.encode(image).inputIds[0];
    const withSos = processor.encode(image, { prependSos: true }).inputIds[0];
    expect(processor.sosToken).toBe(512);
    expect(withSos).toHaveLength(1024);
    expect(withSos).toEqual([512, ...plain.slice(0, 1023)]);
    const sosByDefault = new ImageGPTImageProcessor({ clusters: fixture.clusters, prependSos: true });
    expect(sosByDefault.encode(image).inputIds[0]).toEqual(withSos);
  });

  it('drops alpha by default and composites onto a background when asked', () => {
    const rgba = makeImage('shapes', 48, 48, 4, 23);
    const opaque = { ...rgba, data: rgba.data.slice() };
    for (let i = 3; i < opaque.data.length; i += 4) opaque.data[i] = 255;
    expect(processor.encode(rgba).inputIds).toEqual(processor.encode(opaque).inputIds);
    // 4-byte pixels are read as 32-bit words when aligned, byte by byte otherwise: same tokens.
    const unaligned = new Uint8Array(rgba.data.length + 1);
    unaligned.set(rgba.data, 1);
    expect(processor.encode({ ...rgba, data: unaligned.subarray(1) }).inputIds).toEqual(processor.encode(rgba).inputIds);

    const half = { data: new Uint8Array([200, 100, 0, 128, 10, 20, 30, 0, 10, 20, 30, 255]), width: 3, height: 1 };
    const onWhite = processor.resize(half, { height: 1, width: 3 }, { background: [255, 255, 255] });
    // round((c·a + 255·(255 − a)) / 255): 200·128+255·127 = 57985 → 227.39 → 227; 100 → 177.2 → 177; 0 → 127.
    expect(Array.from(onWhite.data)).toEqual([227, 177, 127, 255, 255, 255, 10, 20, 30]);
    const onWhiteByDefault = new ImageGPTImageProcessor({ clusters: fixture.clusters, background: [255, 255, 255] });
    expect(onWhiteByDefault.encode(half).inputIds).toEqual(processor.encode(half, { background: [255, 255, 255] }).inputIds);
    expect(onWhiteByDefault.encode(half, { background: null }).inputIds).toEqual(processor.encode(half).inputIds);
  });

  it('repeats grey into R, G and B; accepts ImageData-like objects and Uint8ClampedArray', () => {
    const grey = makeImage('texture', 50, 40, 1, 24);
    const rgb = new Uint8Array(50 * 40 * 3).map((_, i) => grey.data[Math.floor(i / 3)]);
    expect(processor.encode(grey).inputIds).toEqual(processor.encode({ data: rgb, width: 50, height: 40 }).inputIds);
    const rgba = new Uint8ClampedArray(50 * 40 * 4).map((_, i) => (i % 4 === 3 ? 255 : grey.data[Math.floor(i / 4)]));
    expect(processor.encode({ data: rgba, width: 50, height: 40 }).inputIds).toEqual(processor.encode(grey).inputIds);
  });

  it('quantizes at the image size when doResize is false', () => {
    const noResize = new ImageGPTImageProcessor({ clusters: fixture.clusters, doResize: false });
    const ids = noResize.encode(image).inputIds[0];
    expect(ids).toHaveLength(40 * 30);
    const q = new ColorQuantizer(processor.clusters);
    expect(ids[31]).toBe(q.nearestExhaustive(image.data[93], image.data[94], image.data[95]));
  });
});

describe('decode', () => {
  it('maps tokens to rint(127.5 · (c + 1)) (numpy: half to even), alpha 255', () => {
    // In [-1, 1] the only exact half is c = 0 → 127.5 → 128 (even; half-down would give 127).
    const clusters = [[0, -1, 1], [-0.5, 0.5, 0.999]];
    const p = new ImageGPTImageProcessor({ clusters, size: { height: 1, width: 2 } });
    // -0.5 → 63.75 → 64; 0.5 → 191.25 → 191; 0.999 → 254.87 → 255.
    expect(Array.from(p.decode([0, 1]).data)).toEqual([128, 0, 255, 255, 64, 191, 255, 255]);
    expect(Array.from(p.palette)).toEqual([128, 0, 255, 64, 191, 255]);
  });

  it('round-trips the palette: decode then encode at the same size gives the same tokens', () => {
    const tokens = processor.encode(makeImage('texture', 64, 64, 3, 25)).inputIds[0];
    const image = processor.decode(tokens);
    expect([image.width, image.height, image.data.length]).toEqual([32, 32, 4096]);
    const again = processor.encode(image).inputIds[0];
    // A palette color can sit nearer another cluster only through its rounding; that is rare.
    expect(again.filter((t, i) => t !== tokens[i]).length).toBeLessThan(20);
  });

  it('fills the pixels after the last token when `fill` is given', () => {
    const out = processor.decode([3, 4], { height: 2, width: 2, fill: [9, 8, 7, 6] });
    expect(Array.from(out.data.slice(8))).toEqual([9, 8, 7, 6, 9, 8, 7, 6]);
  });
});

describe('fromPretrained', () => {
  const config: PreprocessorConfig = {
    clusters: fixture.clusters,
    do_normalize: true,
    do_resize: true,
    resample: 2,
    size: { height: 16, width: 16 },
    image_processor_type: 'ImageGPTImageProcessor',
  };

  it('reads a parsed preprocessor_config.json', async () => {
    const p = await ImageGPTImageProcessor.fromPretrained(config);
    expect(p.size).toEqual({ height: 16, width: 16 });
    expect(p.numClusters).toBe(512);
    expect(Array.from(p.clusters.slice(0, 3))).toEqual(fixture.clusters[0]);
    const old = await ImageGPTImageProcessor.fromPretrained({ clusters: fixture.clusters, size: 32 });
    expect(old.size).toEqual({ height: 32, width: 32 });
  });

  it('fetches `${base}/preprocessor_config.json`', async () => {
    const asked: string[] = [];
    const fakeFetch = (async (url: string) => {
      asked.push(url);
      return new Response(JSON.stringify(config), { status: 200 });
    }) as typeof fetch;
    const p = await ImageGPTImageProcessor.fromPretrained('https://example.test/models/emoji-16/', { fetch: fakeFetch });
    expect(asked).toEqual(['https://example.test/models/emoji-16/preprocessor_config.json']);
    expect(p.size).toEqual({ height: 16, width: 16 });
    const missing = (async () => new Response('no', { status: 404, statusText: 'Not Found' })) as typeof fetch;
    await expect(ImageGPTImageProcessor.fromPretrained('/m', { fetch: missing })).rejects.toThrow(/\/m\/preprocessor_config.json: HTTP 404/);
  });
});

describe('browser image sources', () => {
  it('are drawn onto an OffscreenCanvas and read back as RGBA', () => {
    // A stand-in for the browser's OffscreenCanvas: drawImage copies the source's pixels.
    const rgba = makeImage('texture', 40, 30, 4, 26);
    const drawn: unknown[] = [];
    class FakeOffscreenCanvas {
      constructor(readonly width: number, readonly height: number) {}
      getContext() {
        return {
          drawImage: (source: unknown) => drawn.push(source),
          getImageData: (_x: number, _y: number, w: number, h: number) => ({ data: new Uint8ClampedArray(rgba.data), width: w, height: h }),
        };
      }
    }
    vi.stubGlobal('OffscreenCanvas', FakeOffscreenCanvas);
    try {
      const bitmap = { width: 40, height: 30, close() {} } as unknown as ImageBitmap;
      expect(processor.encode(bitmap).inputIds).toEqual(processor.encode(rgba).inputIds);
      expect(drawn).toEqual([bitmap]);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
