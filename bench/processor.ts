// Encode speed of the image processor (CPU only): pixels → 32×32 (or 16×16) tokens, median of several runs.
// `npm run bench` calls benchProcessor(); alone: node scripts/run-ts.mjs bench/processor.ts

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { ImageGPTImageProcessor, type PixelImage } from '../src/processor';
import { ColorQuantizer } from '../src/processor/quantize';
import { median } from './common';

/** A trained palette when one is in models/, else the test fixture's synthetic clusters. */
function loadClusters(): { clusters: number[][]; source: string } {
  const trained = existsSync('models')
    ? readdirSync('models').map((m) => `models/${m}/preprocessor_config.json`).filter((f) => existsSync(f))
    : [];
  const file = trained[0] ?? 'test/fixtures/processor/processor.json';
  const json = JSON.parse(readFileSync(file, 'utf8')) as { clusters: number[][] };
  return { clusters: json.clusters, source: trained[0] ? file : `${file} (synthetic clusters)` };
}

/** Photo-like pixels: smooth color waves plus grain, so neighbours are close but rarely equal. */
function photoLike(width: number, height: number, channels: 3 | 4): PixelImage {
  const data = new Uint8Array(width * height * channels);
  let seed = 1;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++, i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        const wave = 128 + 100 * Math.sin((x * (c + 1)) / (width / 7)) * Math.cos((y * (3 - c)) / (height / 5));
        data[i] = c === 3 ? 255 : Math.max(0, Math.min(255, Math.round(wave + ((seed >>> 24) & 31) - 16)));
      }
    }
  }
  return { data, width, height, channels };
}

/** Median wall-clock ms of `runs` calls, and median process CPU ms (less disturbed by other work on a shared
 * machine: time spent waiting for a core is not counted). */
function time(runs: number, f: () => void): { ms: number; cpuMs: number } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    f();
    wall.push(performance.now() - t);
    const used = process.cpuUsage(c);
    cpu.push((used.user + used.system) / 1000);
  }
  return { ms: median(wall), cpuMs: median(cpu) };
}

export async function benchProcessor(): Promise<object> {
  const { clusters, source } = loadClusters();
  const cases: { label: string; image: PixelImage; size: number; runs: number }[] = [
    { label: '1024×1024 RGBA → 32×32', image: photoLike(1024, 1024, 4), size: 32, runs: 15 },
    { label: '1024×1024 RGBA → 16×16', image: photoLike(1024, 1024, 4), size: 16, runs: 15 },
    { label: '640×480 RGBA → 32×32', image: photoLike(640, 480, 4), size: 32, runs: 21 },
    { label: '64×64 RGBA → 16×16 (emoji)', image: photoLike(64, 64, 4), size: 16, runs: 51 },
    { label: '4000×3000 RGB → 32×32', image: photoLike(4000, 3000, 3), size: 32, runs: 5 },
  ];
  console.log(`\nprocessor (CPU), clusters from ${source}; median ms`);
  const rows = cases.map(({ label, image, size, runs }) => {
    const processor = new ImageGPTImageProcessor({ clusters, size: { height: size, width: size } });
    // First encode on a fresh processor: the cluster search builds its cell lists as colors appear.
    const first = time(1, () => processor.encode(image)).ms;
    time(2, () => processor.encode(image)); // JIT warm-up
    const encode = time(runs, () => processor.encode(image));
    const resize = time(runs, () => processor.resize(image));
    const row = { image: label, encodeMs: encode.ms, encodeCpuMs: encode.cpuMs, resizeMs: resize.ms, firstEncodeMs: first, runs };
    console.log(
      `  ${label.padEnd(30)} encode ${encode.ms.toFixed(2)} (CPU ${encode.cpuMs.toFixed(2)}); ` +
        `resize ${resize.ms.toFixed(2)}; first call ${first.toFixed(2)}`,
    );
    return row;
  });

  // The cluster search alone, 1024 pixels: cell lists (cold and warm) against evaluating every cluster.
  // Realistic colors: the 32×32 resize of the photo-like image.
  const colors = new ImageGPTImageProcessor({ clusters }).resize(photoLike(1024, 1024, 4)).data;
  const q = new ColorQuantizer(Float64Array.from(clusters.flat()));
  const out = new Array<number>(1024);
  const cold = time(1, () => q.quantize(colors, out));
  const warm = time(21, () => q.quantize(colors, out));
  const exhaustive = time(21, () => {
    for (let p = 0; p < 1024; p++) out[p] = q.nearestExhaustive(colors[3 * p], colors[3 * p + 1], colors[3 * p + 2]);
  });
  console.log(
    `  cluster search, 1024 pixels: cells ${warm.ms.toFixed(2)} (first ${cold.ms.toFixed(2)}), every cluster ${exhaustive.ms.toFixed(2)}`,
  );
  const load = loadavg()[0];
  console.log(`  (load average ${load.toFixed(1)} on ${cpus().length} cores while measuring)`);
  return {
    clusters: source,
    loadAverage: load,
    cases: rows,
    search1024: { cellsMs: warm.ms, cellsFirstMs: cold.ms, exhaustiveMs: exhaustive.ms },
  };
}

export async function main(): Promise<number> {
  await benchProcessor();
  return 0;
}
