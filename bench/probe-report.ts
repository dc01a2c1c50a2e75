// The probe's report: bench/probe.json's shape and, from it alone, the table and bench/PROBE.md (worded from
// the figures, with paired McNemar comparisons), also rewritten from a saved probe.json by --report.
import { writeFileSync } from 'node:fs';
import type { FeatureKind } from './probe-args';
import { readJson } from './probe-data';
import { wilson95, type ProbeRun } from './probe-fit';

/** A rate as a percentage with one decimal, as the table prints it. */
export const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
/** `x` rounded to `d` decimals, for probe.json. */
export const round = (x: number, d = 4): number => Number(x.toFixed(d));

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
  data: {
    dir: string;
    image_size: number;
    images: number;
    /** Rows the probe draws from, and how many of the others were left out for which reason (absent before they existed). */
    pool?: number;
    left_out?: Record<string, number>;
    prepared_now: boolean;
    labels: string;
  };
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
export function runJson(name: string, layer: number | null, normalized: boolean, r: ProbeRun, heldoutCount: number): ProbeJson {
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

/** The data rows outside the probe's pool, as a sentence for the report ('' when none were). */
function leftOutSentence(r: ProbeReport): string {
  const leftOut = Object.entries(r.data.left_out ?? {});
  if (!leftOut.length) return '';
  return ` The training split counted here leaves out ${leftOut.map(([what, n]) => `${n.toLocaleString('en-US')} ${what}`).join(' and ')} of the data: ` +
    'training rows that `prepare_data.py` added after the probe was written, left out so the pool stays the one earlier runs used.';
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
      `(\`--train-limit\`; feature extraction on this CPU-emulated GPU is the cost).` + leftOutSentence(r) + ` Accuracy is on all ${H} held-out images: emoji names ` +
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