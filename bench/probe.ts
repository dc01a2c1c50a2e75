// `npm run probe`: linear probes on every layer of a shipped emoji model, measured on real data.
// Features (mean over positions of each hidden state) of the training split and of the whole held-out
// split; one probe per layer on the emoji categories, its L2 picked on a validation fold carved out of
// the training split; held-out accuracy beside raw pixels and the majority class. Writes bench/probe.json
// and bench/PROBE.md.
//   --model DIR        model folder (config.json, model.safetensors, preprocessor_config.json); default models/emoji-16
//   --data DIR         images.u8 + index.json from weights-tools/prepare_data.py; default weights-tools/data/<model folder name>
//   --train-limit N    stratified, seeded subsample of the training split ('all' = every image); default 500
//   --seed S           subsample and validation fold draw; default 1
//   --batch-size B     images per GPU batch; default 64
//   --dtype f16|f32    weights on the GPU; default f16 (as shipped)
//   --out FILE         default bench/probe.json;  --md FILE: default bench/PROBE.md
//   --report FILE      only rewrite the table and --md from a saved probe.json (no GPU)
//   --features-cache P keep the extracted features in P.json + P.f32 and reuse them when the weights,
//                      dtype and images match (to rerun the probes without the GPU; the normed ones in P-normed.*)
//   --features raw|normed|both  pool the raw hidden states (HF's docs), the layer-normed ones (the iGPT paper's
//                      probes: features(…, { normalize: true })), or both from one pass; default both
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { ImageGPT, ImageGPTImageProcessor, LinearProbe, parseImageGPTConfig, parseSafetensors, tensorToFloat32 } from '../src/index';
import { relError } from '../scripts/rel-error';
import { requestImageGptDevice } from '../src/gpu/device';
import type { FitResult, ImageGPTConfig, ImageGPTConfigJSON, PixelImage, PreprocessorConfig, WeightDType } from '../src/index';
import { seededRandom } from '../scripts/random';
import { nodeGpu } from '../scripts/node-webgpu';

/** Candidate L2 penalties (standardized features, mean cross-entropy): half-decades from 1e-4 to 1. */
export const L2_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1];
/** Share of the (subsampled) training images, by whole emoji names, held back to choose L2. */
export const VALIDATION_FRACTION = 0.2;
const DEFAULT_TRAIN_LIMIT = 500;
const MAX_ITER = 500;

export interface EmojiEntry {
  name: string;
  vendor: string;
  category: string;
  split: 'train' | 'heldout';
  variant: string;
}

interface Args {
  model: string;
  data: string | null;
  trainLimit: number | null;
  seed: number;
  batchSize: number;
  dtype: WeightDType;
  out: string;
  md: string;
  report: string | null;
  featuresCache: string | null;
  features: FeatureKind;
}

/** Which pooled features are probed: raw hidden states, layer-normed ones (normalize: true), or both. */
export type FeatureKind = 'raw' | 'normed' | 'both';

export function parseArgs(args: string[]): Args {
  const parsed: Args = {
    model: 'models/emoji-16',
    data: null,
    trainLimit: DEFAULT_TRAIN_LIMIT,
    seed: 1,
    batchSize: 64,
    dtype: 'f16',
    out: 'bench/probe.json',
    md: 'bench/PROBE.md',
    report: null,
    featuresCache: null,
    features: 'both',
  };
  const positiveInteger = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} is ${JSON.stringify(v)}: expected a positive integer`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    const needValue = (): string => {
      if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value`);
      i++;
      return value;
    };
    switch (flag) {
      case '--model':
        parsed.model = needValue().replace(/\/+$/, '');
        break;
      case '--data':
        parsed.data = needValue().replace(/\/+$/, '');
        break;
      case '--train-limit': {
        const v = needValue();
        parsed.trainLimit = v === 'all' ? null : positiveInteger(flag, v);
        break;
      }
      case '--seed': {
        const v = needValue();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new Error(`--seed is ${JSON.stringify(v)}: expected an integer ≥ 0`);
        parsed.seed = n;
        break;
      }
      case '--batch-size':
        parsed.batchSize = positiveInteger(flag, needValue());
        break;
      case '--dtype': {
        const v = needValue();
        if (v !== 'f16' && v !== 'f32') throw new Error(`--dtype is ${JSON.stringify(v)}: expected f16 or f32`);
        parsed.dtype = v;
        break;
      }
      case '--out':
        parsed.out = needValue();
        break;
      case '--md':
        parsed.md = needValue();
        break;
      case '--report':
        parsed.report = needValue();
        break;
      case '--features-cache':
        parsed.featuresCache = needValue();
        break;
      case '--features': {
        const v = needValue();
        if (v !== 'raw' && v !== 'normed' && v !== 'both') throw new Error(`--features is ${JSON.stringify(v)}: expected raw, normed or both`);
        parsed.features = v;
        break;
      }
      default:
        throw new Error(
          `unknown argument ${JSON.stringify(flag)}; expected --model, --data, --train-limit, --seed, --batch-size, --dtype, --out, --md, --report, --features-cache, --features`,
        );
    }
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// Data


function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

export function readIndex(path: string): EmojiEntry[] {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${path}: expected a JSON array of {name, category, split, ...}`);
  parsed.forEach((e: unknown, i) => {
    const entry = e as Partial<EmojiEntry> | null;
    if (!entry || typeof entry.name !== 'string' || typeof entry.category !== 'string') {
      throw new Error(`${path}: entry ${i} lacks a string name or category`);
    }
    if (entry.split !== 'train' && entry.split !== 'heldout') {
      throw new Error(`${path}: entry ${i} (${entry.name}) has split ${JSON.stringify(entry.split)}, expected "train" or "heldout"`);
    }
  });
  return parsed as EmojiEntry[];
}

export interface ClassCount {
  name: string;
  train: number;
  heldout: number;
}

/**
 * The classes a probe can be fit and scored on: at least 2 training images (one for the fit, one for
 * the validation fold) and at least 1 held-out image (else it cannot be scored). Sorted by name.
 */
export function chooseClasses(entries: readonly EmojiEntry[]): { kept: ClassCount[]; dropped: (ClassCount & { reason: string })[] } {
  const counts = new Map<string, ClassCount>();
  for (const e of entries) {
    const c = counts.get(e.category) ?? { name: e.category, train: 0, heldout: 0 };
    c[e.split === 'train' ? 'train' : 'heldout']++;
    counts.set(e.category, c);
  }
  const kept: ClassCount[] = [];
  const dropped: (ClassCount & { reason: string })[] = [];
  for (const c of [...counts.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (c.train < 2) dropped.push({ ...c, reason: `${c.train} training image(s), fewer than 2` });
    else if (c.heldout === 0) dropped.push({ ...c, reason: 'no held-out image to score it on' });
    else kept.push(c);
  }
  return { kept, dropped };
}

/**
 * A stratified subsample of `indices` of about `limit` items: each class gets its share of `limit`
 * (largest remainders), at least min(2, its size); within a class a seeded shuffle decides. Sorted.
 */
export function stratifiedSubsample(indices: readonly number[], classOf: (i: number) => number, limit: number, seed: number): number[] {
  if (limit >= indices.length) return [...indices];
  const byClass = groupBy(indices, (i) => String(classOf(i)));
  const classes = [...byClass.keys()].sort((a, b) => Number(a) - Number(b));
  const total = indices.length;
  const exact = classes.map((c) => (limit * byClass.get(c)!.length) / total);
  const quota = exact.map(Math.floor);
  let left = limit - quota.reduce((a, b) => a + b, 0);
  const order = classes.map((_, k) => k).sort((a, b) => exact[b] - quota[b] - (exact[a] - quota[a]) || a - b);
  for (const k of order) {
    if (left <= 0) break;
    quota[k]++;
    left--;
  }
  const random = seededRandom(seed);
  const picked: number[] = [];
  classes.forEach((c, k) => {
    const members = byClass.get(c)!;
    const take = Math.min(members.length, Math.max(quota[k], 2));
    picked.push(...shuffled(members, random).slice(0, take));
  });
  return picked.sort((a, b) => a - b);
}

/**
 * Splits `indices` into a fit part and a validation fold of about `fraction` of each class, moving
 * whole groups (an emoji name: both vendors and its variants) so the fold measures generalization to
 * unseen emoji, as the held-out split does. Every class keeps at least one fit item; a class with a
 * single group is split by item.
 */
export function validationFold(
  indices: readonly number[],
  classOf: (i: number) => number,
  groupOf: (i: number) => string,
  fraction: number,
  seed: number,
): { fit: number[]; validation: number[] } {
  const random = seededRandom(seed ^ 0x5eed);
  const fit: number[] = [];
  const validation: number[] = [];
  const byClass = groupBy(indices, (i) => String(classOf(i)));
  for (const c of [...byClass.keys()].sort((a, b) => Number(a) - Number(b))) {
    const members = byClass.get(c)!;
    const target = Math.max(1, Math.round(fraction * members.length));
    const groups = shuffled([...groupBy(members, groupOf).values()], random);
    const chosen: number[] = [];
    if (groups.length === 1) {
      if (members.length >= 2) chosen.push(...shuffled(members, random).slice(0, Math.min(target, members.length - 1)));
    } else {
      for (const g of groups) {
        if (chosen.length >= target) break;
        if (members.length - chosen.length - g.length < 1) continue;
        chosen.push(...g);
      }
    }
    const inValidation = new Set(chosen);
    for (const i of members) (inValidation.has(i) ? validation : fit).push(i);
  }
  return { fit: fit.sort((a, b) => a - b), validation: validation.sort((a, b) => a - b) };
}

/** Rows `rows` of a row-major [N, dim] matrix. */
export function takeRows(matrix: Float32Array, dim: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, k) => out.set(matrix.subarray(r * dim, (r + 1) * dim), k * dim));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Probes

export interface ProbeRun {
  dim: number;
  l2: number;
  iterations: number;
  converged: boolean;
  trainAccuracy: number;
  validationAccuracy: number;
  /** Mean cross-entropy on the validation fold at the chosen L2 (what chose it). */
  validationLoss: number;
  heldoutAccuracy: number;
  heldoutCorrect: number;
  /** Predicted class id of every held-out image. */
  heldoutPredictions: number[];
  /** Validation accuracy and mean cross-entropy of each grid L2 (fit on the fit part only). */
  validationByL2: number[];
  validationLossByL2: number[];
  confusion: number[];
}

export interface ProbeSplits {
  /** Row-major [rows, dim] features of the training images used; class ids alongside. */
  train: Float32Array;
  trainLabels: Int32Array;
  /** Positions (rows of `train`) of the fit part and the validation fold. */
  fit: number[];
  validation: number[];
  heldout: Float32Array;
  heldoutLabels: Int32Array;
  classes: string[];
}

const pick = (labels: Int32Array, rows: readonly number[]): Int32Array => Int32Array.from(rows, (r) => labels[r]);

/** Mean cross-entropy −log p(label) of a fitted probe on labelled rows. */
export function meanCrossEntropy(probe: LinearProbe, features: Float32Array, labels: Int32Array): number {
  const p = probe.predictProba(features);
  const C = probe.numClasses;
  let sum = 0;
  labels.forEach((y, i) => {
    sum -= Math.log(Math.max(p[i * C + y], Number.MIN_VALUE));
  });
  return sum / labels.length;
}

/**
 * One probe: each L2 of `grid` fit on the fit part and scored on the validation fold; the one with the
 * lowest validation cross-entropy (ties: the larger L2) is refit on every training image and scored on
 * the held-out split. Cross-entropy, not accuracy, picks it: on ~100 validation images accuracy moves in
 * 1 % steps and most L2 values tie or differ by an image or two.
 */
export function runProbe(s: ProbeSplits, dim: number, grid: readonly number[] = L2_GRID, maxIter = MAX_ITER): ProbeRun {
  const fitX = takeRows(s.train, dim, s.fit);
  const fitY = pick(s.trainLabels, s.fit);
  const valX = takeRows(s.train, dim, s.validation);
  const valY = pick(s.trainLabels, s.validation);
  const validation = grid.map((l2) => {
    const probe = new LinearProbe({ l2, classes: s.classes });
    probe.fit(fitX, fitY, { maxIter, numFeatures: dim });
    return { accuracy: probe.score(valX, valY), loss: meanCrossEntropy(probe, valX, valY) };
  });
  let best = 0;
  validation.forEach(({ loss }, k) => {
    if (loss <= validation[best].loss) best = k;
  });
  const l2 = grid[best];
  const probe = new LinearProbe({ l2, classes: s.classes });
  const fit: FitResult = probe.fit(s.train, s.trainLabels, { maxIter, numFeatures: dim });
  const confusion = probe.confusionMatrix(s.heldout, s.heldoutLabels);
  const predictions = Array.from(probe.predict(s.heldout));
  const correct = predictions.reduce((n, p, i) => n + (p === s.heldoutLabels[i] ? 1 : 0), 0);
  return {
    dim,
    l2,
    iterations: fit.iterations,
    converged: fit.converged,
    trainAccuracy: probe.score(s.train, s.trainLabels),
    validationAccuracy: validation[best].accuracy,
    validationLoss: validation[best].loss,
    heldoutAccuracy: correct / s.heldoutLabels.length,
    heldoutCorrect: correct,
    heldoutPredictions: predictions,
    validationByL2: validation.map((v) => v.accuracy),
    validationLossByL2: validation.map((v) => v.loss),
    confusion: Array.from(confusion),
  };
}

/** The most frequent training class (lowest id on a tie) and its rate on the held-out split. */
export function majorityBaseline(trainLabels: Int32Array, heldoutLabels: Int32Array, numClasses: number): { classId: number; trainRate: number; heldoutRate: number } {
  const counts = new Array<number>(numClasses).fill(0);
  for (const y of trainLabels) counts[y]++;
  const classId = counts.indexOf(Math.max(...counts));
  const heldout = heldoutLabels.reduce((n, y) => n + (y === classId ? 1 : 0), 0);
  return { classId, trainRate: counts[classId] / trainLabels.length, heldoutRate: heldout / heldoutLabels.length };
}

/** Wilson score interval (95 %) of a proportion `k / n`. */
export function wilson95(k: number, n: number): [number, number] {
  const z = 1.959964;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

// ---------------------------------------------------------------------------------------------
// Running it

/** A device from Dawn with the library's own request (a model this small fits the browser default limits). */
async function probeDevice(): Promise<{ device: GPUDevice; info: GPUAdapterInfo }> {
  const gpu = nodeGpu(); // one Dawn instance for the process: it must outlive its devices
  const limit = 128 * 1024 * 1024;
  try {
    return await requestImageGptDevice(gpu, { maxBufferBytes: limit, maxBindingBytes: limit });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`${why}: run through \`npm run probe\` (it points Dawn at SwiftShader) or set VK_ICD_FILENAMES`);
  }
}

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** The emoji images at `dir`, made by weights-tools/prepare_data.py when missing (it fetches npm packages). */
function loadEmoji(dir: string, size: number): { entries: EmojiEntry[]; pixels: Uint8Array; side: number; prepared: boolean } {
  let prepared = false;
  if (!existsSync(join(dir, 'images.u8')) || !existsSync(join(dir, 'index.json'))) {
    console.log(`${dir} is missing: running /usr/bin/python3 weights-tools/prepare_data.py --sizes ${size} (fetches the emoji npm packages)`);
    const r = spawnSync('/usr/bin/python3', ['weights-tools/prepare_data.py', '--sizes', String(size)], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`weights-tools/prepare_data.py failed (exit ${r.status}); ${dir} is still missing`);
    prepared = true;
  }
  const entries = readIndex(join(dir, 'index.json'));
  const pixels = new Uint8Array(readFileSync(join(dir, 'images.u8')));
  const perImage = pixels.length / entries.length;
  const side = Math.round(Math.sqrt(perImage / 3));
  if (!Number.isInteger(perImage) || side * side * 3 !== perImage) {
    throw new Error(`${dir}/images.u8 has ${pixels.length} bytes for ${entries.length} index entries: expected N × side × side × 3 RGB bytes`);
  }
  return { entries, pixels, side, prepared };
}

interface FeatureExtraction {
  /** Hidden state index → Float32Array [images, n_embd]. */
  features: Map<number, Float32Array>;
  timing: { date: string; seconds: number; cpuSeconds: number; batchSize: number; load: [number, number] };
  device: { vendor: string; architecture: string; description: string };
}

/**
 * Pooled features of every `layers` entry for all `inputIds`, raw and/or layer-normed (`kinds`: normalize false /
 * true), timed (wall and this process's CPU). One kind: model.features. Both: one forward pass per batch reading the
 * hidden states back, pooled here both ways (the same arithmetic as features' normalize, checked against it on the
 * first images), so that both kinds cost one pass over the images.
 */
async function extractFeatures(args: Args, configJson: unknown, weights: Uint8Array, inputIds: number[][], layers: number[], kinds: boolean[]): Promise<Map<boolean, FeatureExtraction>> {
  const { device, info } = await probeDevice();
  const model = await ImageGPT.fromPretrained({ config: configJson as ImageGPTConfigJSON, weights }, { device, dtype: args.dtype });
  console.log(`model ${args.model}: ${model.config.n_layer} layers, n_embd ${model.config.n_embd}, ${args.dtype} on ${info.vendor} ${info.architecture} ${info.description}`);
  let start = 0; // set when the timed pass begins
  let lastReport = 0;
  const onProgress = ({ done, total }: { done: number; total: number }): void => {
    const seconds = (performance.now() - start) / 1000;
    if (done < total && seconds - lastReport < 30) return;
    lastReport = seconds;
    const rate = done / seconds;
    const left = done < total ? `, about ${((total - done) / rate / 60).toFixed(1)} min left` : '';
    console.log(`features: ${done}/${total} images, ${rate.toFixed(2)} images/s, ${seconds.toFixed(0)} s${left}`);
  };
  if (kinds.length > 1) {
    // The host-side pooling against the library's own, on a few images, before the long pass.
    const few = inputIds.slice(0, 4);
    const here = await bothFeatures(model, weights, few, layers, few.length, () => {});
    for (const normalize of kinds) {
      const lib = await model.features(few, { layers, normalize });
      for (const l of layers) {
        const err = relError(here.get(normalize)!.get(l)!, lib.get(l)!);
        if (!(err < 1e-4)) throw new Error(`probe: ${normalize ? 'normed' : 'raw'} features of layer ${l} pooled here differ from model.features by ${err}`);
      }
    }
    console.log('features: raw and layer-normed pooling from the hidden states equal model.features on 4 images (relative error < 1e-4)');
  }
  const load = loadavg()[0];
  start = performance.now();
  const cpuStart = process.cpuUsage();
  const pooled =
    kinds.length === 1
      ? new Map([[kinds[0], await model.features(inputIds, { layers, normalize: kinds[0], batchSize: args.batchSize, onProgress })]])
      : await bothFeatures(model, weights, inputIds, layers, args.batchSize, onProgress);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  model.dispose();
  device.destroy();
  const timing = { date: new Date().toISOString(), seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, batchSize: args.batchSize, load: [load, loadavg()[0]] as [number, number] };
  const deviceInfo = { vendor: info.vendor, architecture: info.architecture, description: info.description };
  return new Map(kinds.map((k) => [k, { features: pooled.get(k)!, timing, device: deviceInfo }]));
}

/**
 * Raw and layer-normed mean-pooled features from one forward pass per batch: the mean over tokens of hidden state l,
 * and of ImageGPT's norm of it (x / sqrt(mean(x²) + eps), no centering) times block l's ln_1 gains (l = n_layer: ln_f's
 * output, as it is), exactly as features' normalize defines them.
 */
async function bothFeatures(
  model: ImageGPT,
  weights: Uint8Array,
  inputIds: number[][],
  layers: number[],
  batchSize: number,
  onProgress: (p: { done: number; total: number }) => void,
): Promise<Map<boolean, Map<number, Float32Array>>> {
  const { n_embd: E, n_layer: L, layer_norm_epsilon: eps } = model.config;
  const tensors = parseSafetensors(weights).tensors;
  const gains = layers.map((l) => (l < L ? tensorToFloat32(tensors.get(`transformer.h.${l}.ln_1.weight`)!) : null));
  const N = inputIds.length;
  const T = inputIds[0].length;
  const raw = new Map(layers.map((l) => [l, new Float32Array(N * E)]));
  const normed = new Map(layers.map((l) => [l, new Float32Array(N * E)]));
  const sumRaw = new Float64Array(E);
  const sumNormed = new Float64Array(E);
  for (let start = 0; start < N; start += batchSize) {
    const rows = inputIds.slice(start, start + batchSize);
    const { hiddenStates } = await model.forward(rows, { outputHiddenStates: true, outputLogits: false });
    layers.forEach((l, k) => {
      const h = hiddenStates![l];
      for (let b = 0; b < rows.length; b++) {
        sumRaw.fill(0);
        sumNormed.fill(0);
        for (let t = 0; t < T; t++) {
          const o = (b * T + t) * E;
          let squares = 0;
          for (let e = 0; e < E; e++) squares += h[o + e] * h[o + e];
          const inv = 1 / Math.sqrt(squares / E + eps);
          const g = gains[k];
          for (let e = 0; e < E; e++) {
            sumRaw[e] += h[o + e];
            sumNormed[e] += g ? h[o + e] * inv * g[e] : h[o + e];
          }
        }
        for (let e = 0; e < E; e++) {
          raw.get(l)![(start + b) * E + e] = sumRaw[e] / T;
          normed.get(l)![(start + b) * E + e] = sumNormed[e] / T;
        }
      }
    });
    onProgress({ done: start + rows.length, total: N });
  }
  return new Map([
    [false, raw],
    [true, normed],
  ]);
}

// --features-cache P: P.json (what the features are of, how they were timed) and P.f32 (the layers'
// [images, n_embd] matrices one after another), so the probes can be rerun without the GPU.
function readFeatureCache(path: string, key: string, layerCount: number, valuesPerLayer: number): FeatureExtraction | null {
  if (!existsSync(`${path}.json`) || !existsSync(`${path}.f32`)) return null;
  const header = readJson(`${path}.json`) as { key: string; timing: FeatureExtraction['timing']; device: FeatureExtraction['device'] };
  if (header.key !== key) {
    console.log(`features: ${path}.json is for other weights, dtype or images; extracting again`);
    return null;
  }
  const bytes = readFileSync(`${path}.f32`);
  if (bytes.byteLength !== layerCount * valuesPerLayer * 4) {
    throw new Error(`${path}.f32 has ${bytes.byteLength} bytes, expected ${layerCount} layers × ${valuesPerLayer} float32 values`);
  }
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const features = new Map<number, Float32Array>();
  for (let l = 0; l < layerCount; l++) features.set(l, all.slice(l * valuesPerLayer, (l + 1) * valuesPerLayer));
  return { features, timing: header.timing, device: header.device };
}

function writeFeatureCache(path: string, key: string, extraction: FeatureExtraction): void {
  const parts = [...extraction.features.keys()].sort((a, b) => a - b).map((l) => extraction.features.get(l)!);
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.f32`, new Uint8Array(all.buffer));
  writeFileSync(`${path}.json`, JSON.stringify({ key, timing: extraction.timing, device: extraction.device }, null, 2) + '\n');
  console.log(`features: saved to ${path}.{json,f32}`);
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const round = (x: number, d = 4): number => Number(x.toFixed(d));

function layerName(layer: number, L: number): string {
  if (layer === 0) return 'layer 0 (embeddings)';
  if (layer === L) return `layer ${L} (last block, after ln_f)`;
  return `layer ${layer} (block ${layer} of ${L})`;
}

function countParams(c: ImageGPTConfig): number {
  const E = c.n_embd;
  const I = c.n_inner;
  const block = 2 * E + E * 3 * E + 3 * E + E * E + E + E * I + I + I * E + E;
  return c.vocab_size * E + c.n_positions * E + c.n_layer * block + E + (c.vocab_size - 1) * E;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.report) return reportFromJson(args.report, args.md);
  const started = performance.now();
  const loadStart = loadavg()[0];
  const configJson = readJson(join(args.model, 'config.json'));
  const preprocessor = readJson(join(args.model, 'preprocessor_config.json')) as PreprocessorConfig;
  const processor = ImageGPTImageProcessor.fromConfig(preprocessor, join(args.model, 'preprocessor_config.json'));
  const dataDir = args.data ?? join('weights-tools/data', basename(args.model));
  const { entries, pixels, side, prepared } = loadEmoji(dataDir, processor.size.width);

  // Classes and splits.
  const { kept, dropped } = chooseClasses(entries);
  const classes = kept.map((c) => c.name);
  if (classes.length < 2) {
    throw new Error(
      `${dataDir}: ${classes.length} categor${classes.length === 1 ? 'y has' : 'ies have'} at least 2 training and 1 held-out image; ` +
        'a probe needs at least 2 such classes',
    );
  }
  const classId = new Map(classes.map((name, k) => [name, k]));
  for (const d of dropped) console.log(`dropped class "${d.name}" (${d.train} training, ${d.heldout} held-out images): ${d.reason}`);
  const labelled = entries.map((e, i) => i).filter((i) => classId.has(entries[i].category));
  const trainAll = labelled.filter((i) => entries[i].split === 'train');
  const heldout = labelled.filter((i) => entries[i].split === 'heldout');
  const classOf = (i: number): number => classId.get(entries[i].category)!;
  const train = args.trainLimit === null ? trainAll : stratifiedSubsample(trainAll, classOf, args.trainLimit, args.seed);
  const fold = validationFold(train.map((_, k) => k), (k) => classOf(train[k]), (k) => entries[train[k]].name, VALIDATION_FRACTION, args.seed);
  console.log(
    `${classes.length} classes; training images used: ${train.length} of ${trainAll.length} (${pct(train.length / trainAll.length)}, ` +
      `stratified, seed ${args.seed}; fit ${fold.fit.length} + validation ${fold.validation.length}); held-out: all ${heldout.length}`,
  );

  const config = parseImageGPTConfig(configJson as ImageGPTConfigJSON);
  const L = config.n_layer;
  const E = config.n_embd;
  const weights = new Uint8Array(readFileSync(join(args.model, 'model.safetensors')));

  // Images → tokens (the processor, as a user does) and raw pixels at the model's size.
  const order = [...heldout, ...train];
  const images: PixelImage[] = order.map((i) => ({ data: pixels.subarray(i * side * side * 3, (i + 1) * side * side * 3), width: side, height: side, channels: 3 }));
  const encodeStart = performance.now();
  const { inputIds } = processor.encode(images);
  const encodeSeconds = (performance.now() - encodeStart) / 1000;
  const pixelDim = processor.size.width * processor.size.height * 3;
  const rawPixels = new Float32Array(order.length * pixelDim);
  images.forEach((image, k) => {
    const rgb = processor.resize(image).data;
    for (let j = 0; j < pixelDim; j++) rawPixels[k * pixelDim + j] = rgb[j] / 127.5 - 1;
  });

  // Features of every layer, all pooled in one pass per batch (or from --features-cache); one pass per kind.
  const layers = Array.from({ length: L + 1 }, (_, l) => l);
  const kinds = args.features === 'both' ? [false, true] : [args.features === 'normed'];
  const cacheOf = (normalize: boolean) => {
    const hash = createHash('sha256').update(weights).update(args.dtype).update(JSON.stringify(inputIds));
    return { key: (normalize ? hash.update('normalize') : hash).digest('hex'), path: args.featuresCache && (normalize ? `${args.featuresCache}-normed` : args.featuresCache) };
  };
  const fromCache = kinds.map((normalize) => {
    const { key, path } = cacheOf(normalize);
    return path ? readFeatureCache(path, key, layers.length, order.length * E) : null;
  });
  const allCached = fromCache.every((c) => c !== null);
  if (allCached) console.log(`features: read from ${args.featuresCache} (extracted ${fromCache[0]!.timing.date}; its timing is reported)`);
  const extracted = allCached ? new Map(kinds.map((k, i) => [k, fromCache[i]!])) : await extractFeatures(args, configJson, weights, inputIds, layers, kinds);
  if (!allCached && args.featuresCache) {
    for (const k of kinds) writeFeatureCache(cacheOf(k).path!, cacheOf(k).key, extracted.get(k)!);
  }
  const passes = kinds.map((normalize) => ({ normalize, extraction: extracted.get(normalize)! }));
  const { timing: featureTiming, device: info } = passes[0].extraction;
  const cached = allCached ? passes[0] : null;

  // Probes.
  const H = heldout.length;
  const splitRows = (matrix: Float32Array, dim: number): { heldout: Float32Array; train: Float32Array } => ({
    heldout: matrix.slice(0, H * dim),
    train: matrix.slice(H * dim),
  });
  const trainLabels = Int32Array.from(train, classOf);
  const heldoutLabels = Int32Array.from(heldout, classOf);
  const splitsFor = (matrix: Float32Array, dim: number): ProbeSplits => {
    const parts = splitRows(matrix, dim);
    return { train: parts.train, trainLabels, fit: fold.fit, validation: fold.validation, heldout: parts.heldout, heldoutLabels, classes };
  };
  const probeStart = performance.now();
  const runs: { name: string; layer: number | null; normalized: boolean; run: ProbeRun }[] = [];
  for (const { normalize, extraction } of passes) {
    for (const l of layers) {
      // Hidden state L is ln_f's output either way: with both kinds its normed probe would repeat the raw one.
      if (normalize && l === L && passes.length > 1) continue;
      const run = runProbe(splitsFor(extraction.features.get(l)!, E), E);
      const name = normalize ? `${layerName(l, L)}, layer-normed` : layerName(l, L);
      runs.push({ name, layer: l, normalized: normalize, run });
      console.log(`  ${name}: held-out ${pct(run.heldoutAccuracy)} (l2 ${run.l2}, ${run.iterations} iterations)`);
    }
  }
  const pixelRun = runProbe(splitsFor(rawPixels, pixelDim), pixelDim);
  runs.push({ name: `raw pixels (${processor.size.width}×${processor.size.height} RGB)`, layer: null, normalized: false, run: pixelRun });
  const probeSeconds = (performance.now() - probeStart) / 1000;
  const majority = majorityBaseline(trainLabels, heldoutLabels, classes.length);

  // Report.
  const totalSeconds = (performance.now() - started) / 1000;
  const perClass = Object.fromEntries(
    kept.map((c, k) => [c.name, { train_split: c.train, train_used: trainLabels.filter((y) => y === k).length, heldout: c.heldout }]),
  );
  const result: ProbeReport = {
    date: new Date().toISOString(),
    command: ['npm run probe --', ...argv].join(' '),
    model: {
      dir: args.model,
      n_layer: L,
      n_embd: E,
      n_positions: config.n_positions,
      parameters: countParams(config),
      dtype: args.dtype,
    },
    data: { dir: dataDir, image_size: side, images: entries.length, prepared_now: prepared, labels: 'category' },
    features:
      'mean over the sequence of hidden state l (0 = embeddings, k = output of block k, n_layer = last block after ln_f)' +
      (args.features === 'raw' ? '' : "; layer-normed: of ImageGPT's norm of it with block l's ln_1 gains (features' normalize: true; l = n_layer is ln_f's output as it is)"),
    feature_kinds: args.features,
    classes,
    dropped_classes: dropped.map((d) => ({ class: d.name, train: d.train, heldout: d.heldout, reason: d.reason })),
    counts: {
      train_split: trainAll.length,
      train_used: train.length,
      train_fraction: round(train.length / trainAll.length),
      train_limit: args.trainLimit,
      fit: fold.fit.length,
      validation: fold.validation.length,
      heldout: H,
      per_class: perClass,
    },
    selection: {
      l2_grid: L2_GRID,
      rule: 'lowest validation cross-entropy (ties: larger l2), then refit on all training images used',
      validation: `${VALIDATION_FRACTION * 100} % of each class's training images, by whole emoji names (both vendors and variants on one side)`,
      seed: args.seed,
      max_iter: MAX_ITER,
      standardized: true,
    },
    probes: runs.map((r) => runJson(r.name, r.layer, r.normalized, r.run, H)),
    majority: {
      class: classes[majority.classId],
      train_rate: round(majority.trainRate),
      heldout_accuracy: round(majority.heldoutRate),
    },
    heldout_labels: Array.from(heldoutLabels),
    timing: {
      feature_images: order.length,
      feature_seconds: round(featureTiming.seconds, 1),
      images_per_second: round(order.length / featureTiming.seconds, 3),
      feature_cpu_seconds: round(featureTiming.cpuSeconds, 1),
      images_per_cpu_second: round(order.length / featureTiming.cpuSeconds, 3),
      batch_size: featureTiming.batchSize,
      feature_load_average_1min: { start: round(featureTiming.load[0], 2), end: round(featureTiming.load[1], 2) },
      features_extracted: featureTiming.date,
      features_from_cache: cached !== null,
      feature_kinds_from_one_pass: passes.length,
      encode_seconds: round(encodeSeconds, 2),
      probe_fit_seconds: round(probeSeconds, 1),
      total_seconds: round(totalSeconds, 1),
      load_average_1min: { start: round(loadStart, 2), end: round(loadavg()[0], 2) },
      cpus: cpus().length,
    },
    device: { vendor: info.vendor, architecture: info.architecture, description: info.description },
    runtime: `Node ${process.version}, Dawn (npm webgpu)`,
  };
  writeFileSync(args.out, stringifyReport(result));
  console.log('\n' + formatTable(result) + '\n');
  writeFileSync(args.md, formatMarkdown(result));
  console.log(`wrote ${args.out} and ${args.md} (${totalSeconds.toFixed(0)} s in all)`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The report: bench/probe.json and, from it alone, the table and bench/PROBE.md

export interface ProbeJson {
  name: string;
  /** Hidden state index, or null for raw pixels. */
  layer: number | null;
  /** Pooled layer-normed hidden states (features' normalize: true); absent in reports from before it existed. */
  normalized?: boolean;
  dim: number;
  l2: number;
  fit_iterations: number;
  converged: boolean;
  train_accuracy: number;
  validation_accuracy: number;
  validation_loss: number;
  heldout_accuracy: number;
  heldout_correct: number;
  heldout_ci95: [number, number];
  validation_by_l2: number[];
  validation_loss_by_l2: number[];
  /** [C, C] row-major: (true class, predicted class). */
  heldout_confusion: number[];
  /** Predicted class id of each held-out image, in the order of `heldout_labels`. */
  heldout_predictions: number[];
}

export interface ProbeReport {
  date: string;
  command: string;
  model: { dir: string; n_layer: number; n_embd: number; n_positions: number; parameters: number; dtype: string };
  data: { dir: string; image_size: number; images: number; prepared_now: boolean; labels: string };
  features: string;
  /** Which features were probed (absent in reports from before normed features: raw). */
  feature_kinds?: FeatureKind;
  classes: string[];
  dropped_classes: { class: string; train: number; heldout: number; reason: string }[];
  counts: {
    train_split: number;
    train_used: number;
    train_fraction: number;
    train_limit: number | null;
    fit: number;
    validation: number;
    heldout: number;
    per_class: Record<string, { train_split: number; train_used: number; heldout: number }>;
  };
  selection: { l2_grid: number[]; rule: string; validation: string; seed: number; max_iter: number; standardized: boolean };
  probes: ProbeJson[];
  majority: { class: string; train_rate: number; heldout_accuracy: number };
  heldout_labels: number[];
  timing: {
    feature_images: number;
    feature_seconds: number;
    images_per_second: number;
    feature_cpu_seconds: number;
    images_per_cpu_second: number;
    batch_size: number;
    feature_load_average_1min: { start: number; end: number };
    /** When the features were extracted (earlier than `date` when they came from --features-cache). */
    features_extracted: string;
    features_from_cache: boolean;
    /** Kinds of features (raw, layer-normed) pooled from the one pass over the images (absent in older reports: 1). */
    feature_kinds_from_one_pass?: number;
    encode_seconds: number;
    probe_fit_seconds: number;
    total_seconds: number;
    load_average_1min: { start: number; end: number };
    /** CPU cores of the machine (absent in reports from before it was recorded). */
    cpus?: number;
  };
  device: { vendor: string; architecture: string; description: string };
  runtime: string;
}

function runJson(name: string, layer: number | null, normalized: boolean, r: ProbeRun, heldoutCount: number): ProbeJson {
  const [lo, hi] = wilson95(r.heldoutCorrect, heldoutCount);
  return {
    name,
    layer,
    normalized,
    dim: r.dim,
    l2: r.l2,
    fit_iterations: r.iterations,
    converged: r.converged,
    train_accuracy: round(r.trainAccuracy),
    validation_accuracy: round(r.validationAccuracy),
    validation_loss: round(r.validationLoss),
    heldout_accuracy: round(r.heldoutAccuracy),
    heldout_correct: r.heldoutCorrect,
    heldout_ci95: [round(lo), round(hi)],
    validation_by_l2: r.validationByL2.map((a) => round(a)),
    validation_loss_by_l2: r.validationLossByL2.map((a) => round(a)),
    heldout_confusion: r.confusion,
    heldout_predictions: r.heldoutPredictions,
  };
}

/** Indented JSON with every array of numbers on one line (the per-image predictions would take thousands). */
export function stringifyReport(report: unknown): string {
  return JSON.stringify(report, null, 2).replace(/\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g, (_, inner: string) => `[${inner.split(/,\s+/).join(', ')}]`) + '\n';
}

/**
 * Exact two-sided McNemar test of two classifiers scored on the same images: the p-value of seeing
 * `onlyA` vs `onlyB` discordant images (one right, the other wrong) if both were equally accurate.
 */
export function mcnemarExact(onlyA: number, onlyB: number): number {
  const n = onlyA + onlyB;
  if (n === 0) return 1;
  let term = Math.pow(0.5, n); // P(k = 0)
  let tail = 0;
  for (let k = 0; k <= Math.min(onlyA, onlyB); k++) {
    tail += term;
    term *= (n - k) / (k + 1);
  }
  return Math.min(1, 2 * tail);
}

function pairedComparison(a: ProbeJson, b: ProbeJson, labels: number[]): { onlyA: number; onlyB: number; p: number } {
  let onlyA = 0;
  let onlyB = 0;
  labels.forEach((y, i) => {
    const ra = a.heldout_predictions[i] === y;
    const rb = b.heldout_predictions[i] === y;
    if (ra && !rb) onlyA++;
    if (rb && !ra) onlyB++;
  });
  return { onlyA, onlyB, p: mcnemarExact(onlyA, onlyB) };
}

export function formatTable(r: ProbeReport): string {
  const header = ['features', 'dim', 'l2', 'fit iterations', 'train', 'validation', 'held-out', 'held-out 95 % interval'];
  const rows = r.probes.map((p) => [
    p.name,
    String(p.dim),
    String(p.l2),
    String(p.fit_iterations) + (p.converged ? '' : '*'),
    pct(p.train_accuracy),
    pct(p.validation_accuracy),
    `**${pct(p.heldout_accuracy)}**`,
    `${pct(p.heldout_ci95[0])} – ${pct(p.heldout_ci95[1])}`,
  ]);
  rows.push([`majority class (${r.majority.class})`, '', '', '', pct(r.majority.train_rate), '', `**${pct(r.majority.heldout_accuracy)}**`, '']);
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** bench/PROBE.md: the table and what it says, worded from the figures so that a rerun stays true. */
export function formatMarkdown(r: ProbeReport): string {
  const allLayers = r.probes.filter((p) => p.layer !== null);
  const normed = allLayers.filter((p) => p.normalized === true);
  // The layer comparisons below are of the raw features where there are some (the normed ones get their own bullet).
  const layers = normed.length < allLayers.length ? allLayers.filter((p) => p.normalized !== true) : allLayers;
  const pixels = r.probes.find((p) => p.layer === null);
  if (!pixels || layers.length === 0) throw new Error('probe report: expected layer probes and a raw-pixel probe');
  const last = layers[layers.length - 1];
  const best = layers.reduce((a, b) => (b.heldout_accuracy > a.heldout_accuracy ? b : a));
  const chosen = layers.reduce((a, b) => (b.validation_loss < a.validation_loss ? b : a));
  const H = r.counts.heldout;
  const versus = (a: ProbeJson, b: ProbeJson): string => {
    const d = 100 * (a.heldout_accuracy - b.heldout_accuracy);
    const { onlyA, onlyB, p } = pairedComparison(a, b, r.heldout_labels);
    const gap = d === 0 ? 'has the same accuracy as' : `is ${Math.abs(d).toFixed(1)} points ${d > 0 ? 'above' : 'below'}`;
    return `${capitalize(a.name)} ${gap} ${b.name} (${pct(b.heldout_accuracy)}; ${onlyA} images classified right only by the first, ${onlyB} only by the second; ` +
      `exact McNemar p = ${p < 0.001 ? p.toExponential(1) : p.toFixed(3)})`;
  };
  const dropped = r.dropped_classes.map((d) => `"${d.class}" (${d.train} training, ${d.heldout} held-out images: ${d.reason})`).join('; ');
  const t = r.timing;
  const lines = [
    `## Linear probes on emoji categories (\`npm run probe\`)`,
    '',
    `Model \`${r.model.dir}\` (${r.model.n_layer} layers, n_embd ${r.model.n_embd}, ${r.model.parameters.toLocaleString('en-US')} parameters, ` +
      `${r.model.dtype} weights on the GPU). Labels: the ${r.classes.length} emoji categories` + (dropped ? `; dropped ${dropped}` : '') + '. ' +
      `Features: the mean over all positions of hidden state *l* (0 = embeddings, *k* = output of block *k*, ${r.model.n_layer} = the last block after ln_f), ` +
      `every layer from one forward pass` +
      (normed.length
        ? `; *layer-normed* rows pool ImageGPT's norm (no centering) of it with block *l*'s ln_1 gains instead: what that block's attention reads and ` +
          `what the iGPT paper's probes pool (\`features(…, { normalize: true })\`; hidden state ${r.model.n_layer} is ln_f's output either way)`
        : '') +
      `. Probe: multinomial logistic regression on standardized features (\`LinearProbe\`), one per row; ` +
      `its L2 is chosen from ${r.selection.l2_grid[0]} … ${r.selection.l2_grid[r.selection.l2_grid.length - 1]} by cross-entropy on a validation fold ` +
      `(${r.counts.validation} of the training images, whole emoji names held back), then it is refit on all ${r.counts.train_used} training images used: ` +
      `${(100 * r.counts.train_fraction).toFixed(1)} % of the ${r.counts.train_split} in the training split, a stratified seeded sample ` +
      `(\`--train-limit\`; feature extraction on this CPU-emulated GPU is the cost). Accuracy is on all ${H} held-out images: emoji names ` +
      `that neither the model nor the probe saw in training.`,
    '',
    formatTable(r),
    '',
    ...(r.probes.some((p) => !p.converged) ? ['\\* stopped at the iteration limit before reaching the gradient tolerance.', ''] : []),
    `- Best layer on held-out images: ${best.name}, ${pct(best.heldout_accuracy)}. ` +
      (chosen === best
        ? 'It also has the lowest validation cross-entropy, so it is the layer one would pick without the held-out split.'
        : `Picked without the held-out split (lowest validation cross-entropy) it would be ${chosen.name}, ${pct(chosen.heldout_accuracy)} held-out.`),
    `- ${best === last ? `The last layer is itself the best.` : versus(best, last) + '.'}`,
    `- ${versus(best, pixels)}. ${best === last ? '' : versus(last, pixels) + '.'}`.replace(/\s+$/, ''),
    paperExpectation(r, layers, last, pixels),
    ...(normed.length && normed.length < allLayers.length ? [normedVersusRaw(r, normed, layers)] : []),
    ...(best.layer === 0
      ? [
          `- Layer 0 is the mean of the token and position embeddings. The position part is the same for every image, so it is a ` +
            `linear projection (to ${r.model.n_embd} numbers) of the image's histogram over the palette colours. That no block beats it says ` +
            `that, for these categories at ${r.data.image_size}×${r.data.image_size}, nothing this small model computes from an image is ` +
            `more linearly usable than the image's colour make-up.`,
        ]
      : []),
    `- The majority class alone gets ${pct(r.majority.heldout_accuracy)}. With ${H} held-out images each accuracy is uncertain by ` +
      `±${(196 * Math.sqrt(0.25 / H)).toFixed(1)} points at most (95 %); the McNemar p-values compare two probes on the same images.`,
    `- Feature extraction: ${t.feature_images} images (every layer${(t.feature_kinds_from_one_pass ?? 1) > 1 ? ', raw and layer-normed' : ''}, one pass) in ${t.feature_seconds} s = ${t.images_per_second} images/s on ` +
      `${r.device.vendor} ${r.device.architecture}, batches of ${t.batch_size}; ${t.images_per_cpu_second} images per CPU-second of the process; ` +
      `load average ${t.feature_load_average_1min.start} → ${t.feature_load_average_1min.end}` +
      (t.cpus ? ` on ${t.cpus} CPU cores shared with other work` : '') + `. Probe fits: ${t.probe_fit_seconds} s. ` +
      (t.features_from_cache ? `(Features read from --features-cache, extracted ${t.features_extracted.slice(0, 16)}.)` : `Whole run: ${(t.total_seconds / 60).toFixed(1)} min.`),
    '',
    ...perCategoryTable(r),
    `Reproduce: \`${r.command}\` (${r.date.slice(0, 10)}; all figures in \`bench/probe.json\`; \`--report bench/probe.json\` rewrites this file from it).`,
    '',
  ];
  return lines.join('\n');
}

/** Layer-normed features against the raw ones of the same layer, paired on the same held-out images. */
function normedVersusRaw(r: ProbeReport, normed: ProbeJson[], raw: ProbeJson[]): string {
  const pairs = normed.flatMap((n) => {
    const rawOne = raw.find((p) => p.layer === n.layer);
    if (!rawOne) return [];
    const { onlyA, onlyB, p } = pairedComparison(n, rawOne, r.heldout_labels);
    const d = 100 * (n.heldout_accuracy - rawOne.heldout_accuracy);
    const pText = p < 0.001 ? p.toExponential(1) : p.toFixed(3);
    return [`layer ${n.layer} ${pct(n.heldout_accuracy)} vs ${pct(rawOne.heldout_accuracy)} (${d >= 0 ? '+' : ''}${d.toFixed(1)} points; right only normed ${onlyA}, only raw ${onlyB}; p = ${pText})`];
  });
  const bestNormed = normed.reduce((a, b) => (b.heldout_accuracy > a.heldout_accuracy ? b : a));
  return `- Layer-normed vs raw features of the same layer, held-out: ${pairs.join('; ')}. The best layer-normed probe is ${bestNormed.name}, ${pct(bestNormed.heldout_accuracy)}.`;
}

/** The ImageGPT paper's finding (a middle layer beats the last one and raw pixels), checked on these figures. */
function paperExpectation(r: ProbeReport, layers: ProbeJson[], last: ProbeJson, pixels: ProbeJson): string {
  const middle = layers.filter((p) => p.layer !== 0 && p !== last);
  if (middle.length === 0) return '- There is no middle layer to compare with the paper (a model of one block).';
  const bestMiddle = middle.reduce((a, b) => (b.heldout_accuracy > a.heldout_accuracy ? b : a));
  const verdict = (other: ProbeJson): string => {
    const { p } = pairedComparison(bestMiddle, other, r.heldout_labels);
    if (bestMiddle.heldout_accuracy <= other.heldout_accuracy) return `does not beat ${other.name}`;
    return p < 0.05 ? `beats ${other.name} (p < 0.05)` : `is above ${other.name} but within noise (p = ${p.toFixed(2)})`;
  };
  return `- The ImageGPT paper's finding is that a middle layer beats the last one and raw pixels (for models of 76 M–1.4 B ` +
    `parameters trained on ImageNet). Here the best middle layer, ${bestMiddle.name} at ${pct(bestMiddle.heldout_accuracy)}, ` +
    `${verdict(last)} and ${verdict(pixels)}.`;
}

/** Held-out accuracy of every probe per category: where the differences come from. */
function perCategoryTable(r: ProbeReport): string[] {
  const C = r.classes.length;
  const short = (p: ProbeJson): string => (p.layer === null ? 'raw pixels' : `layer ${p.layer}${p.normalized ? ' normed' : ''}`);
  const header = ['category', 'held-out images', ...r.probes.map(short)];
  const rows = r.classes.map((name, c) => {
    const n = r.heldout_labels.filter((y) => y === c).length;
    return [name, String(n), ...r.probes.map((p) => pct(p.heldout_confusion[c * C + c] / n))];
  });
  const lines = [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  return ['Held-out accuracy per category:', '', ...lines, ''];
}

const capitalize = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

/** `--report FILE`: the table and bench/PROBE.md again from a saved probe.json, without the GPU. */
export function reportFromJson(path: string, mdPath: string): number {
  const report = readJson(path) as ProbeReport;
  if (!Array.isArray(report.probes) || !Array.isArray(report.heldout_labels)) {
    throw new Error(`${path}: not a probe report (expected "probes" and "heldout_labels"; written by npm run probe)`);
  }
  console.log(formatTable(report));
  writeFileSync(mdPath, formatMarkdown(report));
  console.log(`wrote ${mdPath} from ${path}`);
  return 0;
}
