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
// The pieces: probe-args.ts (flags), probe-data.ts (images, classes, splits), probe-features.ts (GPU features and
// their cache), probe-fit.ts (one probe and the baselines), probe-report.ts (probe.json and PROBE.md).
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { ImageGPTImageProcessor, parseImageGPTConfig } from '../src/index';
import type { ImageGPTConfig, ImageGPTConfigJSON, PixelImage, PreprocessorConfig } from '../src/index';
import { parseArgs } from './probe-args';
import { chooseClasses, loadEmoji, probePool, readJson, stratifiedSubsample, validationFold } from './probe-data';
import { extractFeatures, readFeatureCache, writeFeatureCache } from './probe-features';
import { L2_GRID, MAX_ITER, VALIDATION_FRACTION, majorityBaseline, runProbe, type ProbeRun, type ProbeSplits } from './probe-fit';
import { formatMarkdown, formatTable, pct, reportFromJson, round, runJson, stringifyReport, type ProbeReport } from './probe-report';

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

  // The pool, classes and splits.
  const { pool, leftOut } = probePool(entries);
  for (const [what, count] of Object.entries(leftOut)) console.log(`left out of the probe's pool: ${count} ${what} (${dataDir})`);
  const { kept, dropped } = chooseClasses(pool.map((i) => entries[i]));
  const classes = kept.map((c) => c.name);
  if (classes.length < 2) {
    throw new Error(
      `${dataDir}: ${classes.length} categor${classes.length === 1 ? 'y has' : 'ies have'} at least 2 training and 1 held-out image; ` +
        'a probe needs at least 2 such classes',
    );
  }
  const classId = new Map(classes.map((name, k) => [name, k]));
  for (const d of dropped) console.log(`dropped class "${d.name}" (${d.train} training, ${d.heldout} held-out images): ${d.reason}`);
  const labelled = pool.filter((i) => classId.has(entries[i].category));
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
    data: { dir: dataDir, image_size: side, images: entries.length, pool: pool.length, left_out: leftOut, prepared_now: prepared, labels: 'category' },
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
