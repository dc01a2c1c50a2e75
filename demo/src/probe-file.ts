// The "teach it your own classes" probe as a JSON file: which model and layer its features come from, the class
// names, and the library's LinearProbe JSON (standardization mean/std, weights, bias). Reading one checks every
// field and names the first wrong one; a probe for another model is refused with what to do instead.
// Pure: no DOM, no worker (unit-tested in test/demo/probe-file.test.ts).
import { LinearProbe, type LinearProbeJSON } from '../../src/index';

export const PROBE_FILE_FORMAT = 'imagegpt-webgpu/demo-own-classes-probe';
export const PROBE_FILE_VERSION = 1;
export const MIN_CLASSES = 2;
export const MAX_CLASSES = 5;
/** Images each class needs before a probe is trained: one is no class, two let the probe see some variation. */
export const MIN_IMAGES_PER_CLASS = 2;

/** What identifies the model whose features a probe reads. */
export interface ProbeModel {
  name: string;
  imageSize: number;
  nLayer: number;
  nEmbd: number;
}

export interface ProbeFile {
  format: typeof PROBE_FILE_FORMAT;
  version: typeof PROBE_FILE_VERSION;
  model: ProbeModel;
  /** The hidden state (0 = embeddings … nLayer = after the final layer norm) whose mean-pooled features it reads. */
  layer: number;
  classes: string[];
  /** Training images per class, in the order of `classes`. */
  counts: number[];
  /** The library's probe: weights act on standardized features, z = (x − mean) / std. */
  probe: LinearProbeJSON;
}

/** A value shortened for a message. */
function shown(v: unknown): string {
  if (v === undefined) return 'missing';
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function fieldError(field: string, value: unknown, expected: string): Error {
  return new Error(`"${field}" is ${shown(value)}: expected ${expected}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

/**
 * Why these classes cannot train a probe yet, as one sentence the page shows beside Train; null when they can.
 * Names are trimmed; two classes may not share a name (ignoring case), since predictions are shown by name.
 */
export function classSetProblem(classes: readonly { name: string; count: number }[]): string | null {
  if (classes.length < MIN_CLASSES) return `Make at least ${MIN_CLASSES} classes (there ${classes.length === 1 ? 'is 1' : `are ${classes.length}`}).`;
  if (classes.length > MAX_CLASSES) return `Use at most ${MAX_CLASSES} classes (there are ${classes.length}).`;
  const seen = new Map<string, number>();
  for (let i = 0; i < classes.length; i++) {
    const name = classes[i].name.trim();
    if (!name) return `Class ${i + 1} has no name: give it one.`;
    const key = name.toLowerCase();
    const earlier = seen.get(key);
    if (earlier !== undefined) return `Classes ${earlier + 1} and ${i + 1} are both called “${name}”: give them different names.`;
    seen.set(key, i);
  }
  for (const c of classes) {
    if (c.count < MIN_IMAGES_PER_CLASS) {
      const has = c.count === 0 ? 'no images' : c.count === 1 ? 'only 1 image' : `only ${c.count} images`;
      return `“${c.name.trim()}” has ${has}: add at least ${MIN_IMAGES_PER_CLASS} per class.`;
    }
  }
  return null;
}

/** The file for a trained probe (classes already checked by classSetProblem; names trimmed). */
export function probeFile(model: ProbeModel, layer: number, probe: LinearProbe, counts: readonly number[]): ProbeFile {
  const classes = probe.classes;
  if (!classes) throw new Error('probeFile: the probe has no class names; fit it with the classes option');
  if (counts.length !== classes.length) throw new Error(`probeFile: ${counts.length} counts for ${classes.length} classes`);
  return {
    format: PROBE_FILE_FORMAT,
    version: PROBE_FILE_VERSION,
    model: { name: model.name, imageSize: model.imageSize, nLayer: model.nLayer, nEmbd: model.nEmbd },
    layer,
    classes: [...classes],
    counts: [...counts],
    probe: probe.toJSON(),
  };
}

/** Reads a probe file's text; throws an Error naming the first wrong field (in JSON path form) and what it should be. */
export function readProbeFile(text: string): { file: ProbeFile; probe: LinearProbe } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`the file is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(json)) throw new Error(`the file holds ${shown(json)}: expected a JSON object saved by "Save probe"`);
  if (json.format !== PROBE_FILE_FORMAT) throw fieldError('format', json.format, `"${PROBE_FILE_FORMAT}" (a probe saved by this page)`);
  if (json.version !== PROBE_FILE_VERSION) throw fieldError('version', json.version, String(PROBE_FILE_VERSION));
  const model = json.model;
  if (!isObject(model)) throw fieldError('model', model, 'an object with name, imageSize, nLayer and nEmbd');
  if (typeof model.name !== 'string' || !model.name.trim()) throw fieldError('model.name', model.name, 'the model name, a non-empty string');
  for (const key of ['imageSize', 'nLayer', 'nEmbd'] as const) {
    if (!positiveInteger(model[key])) throw fieldError(`model.${key}`, model[key], 'an integer ≥ 1');
  }
  const nLayer = model.nLayer as number;
  const nEmbd = model.nEmbd as number;
  const layer = json.layer;
  if (typeof layer !== 'number' || !Number.isInteger(layer) || layer < 0 || layer > nLayer) {
    throw fieldError('layer', layer, `an integer from 0 to ${nLayer} (model.nLayer)`);
  }
  const classes = json.classes;
  if (!Array.isArray(classes) || classes.length < MIN_CLASSES || classes.length > MAX_CLASSES) {
    throw fieldError('classes', classes, `a list of ${MIN_CLASSES} to ${MAX_CLASSES} class names`);
  }
  classes.forEach((name: unknown, i) => {
    if (typeof name !== 'string' || !name.trim()) throw fieldError(`classes[${i}]`, name, 'a non-empty string');
    const twin = classes.findIndex((other: unknown) => typeof other === 'string' && other.trim().toLowerCase() === name.trim().toLowerCase());
    if (twin !== i) throw fieldError(`classes[${i}]`, name, `a name different from classes[${twin}]`);
  });
  const counts = json.counts;
  if (!Array.isArray(counts) || counts.length !== classes.length) {
    throw fieldError('counts', counts, `${classes.length} image counts, one per class`);
  }
  counts.forEach((n: unknown, i) => {
    if (!positiveInteger(n)) throw fieldError(`counts[${i}]`, n, 'an integer ≥ 1');
  });
  if (!isObject(json.probe)) throw fieldError('probe', json.probe, 'the probe object (LinearProbe.toJSON)');
  let probe: LinearProbe;
  try {
    probe = LinearProbe.fromJSON(json.probe as unknown as LinearProbeJSON);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(`"probe": ${message.replace(/^LinearProbe\.fromJSON: /, '')}`);
  }
  if (probe.numFeatures !== nEmbd) throw fieldError('probe.numFeatures', probe.numFeatures, `${nEmbd} (model.nEmbd: one feature per hidden unit)`);
  const probeClasses = probe.classes;
  if (!probeClasses || probeClasses.length !== classes.length || probeClasses.some((c, i) => c !== classes[i])) {
    throw fieldError('probe.classes', probeClasses, `the same names as "classes" (${shown(classes)})`);
  }
  const file: ProbeFile = {
    format: PROBE_FILE_FORMAT,
    version: PROBE_FILE_VERSION,
    model: { name: model.name, imageSize: model.imageSize as number, nLayer, nEmbd },
    layer,
    classes: classes as string[],
    counts: counts as number[],
    probe: json.probe as unknown as LinearProbeJSON,
  };
  return { file, probe };
}

/** Why a probe of `file` cannot run on `current`, as a sentence saying what to do; null when it can. */
export function probeMismatch(file: Pick<ProbeFile, 'model' | 'layer'>, current: ProbeModel): string | null {
  const saved = file.model;
  if (saved.name !== current.name) {
    return `This probe was trained on the ${saved.name} model (layer ${file.layer}), but ${current.name} is loaded: load ${saved.name} first, or train a new probe here.`;
  }
  const shape = (m: ProbeModel) => `${m.imageSize}×${m.imageSize} pixels, ${m.nLayer} layers, ${m.nEmbd} features`;
  if (saved.imageSize !== current.imageSize || saved.nLayer !== current.nLayer || saved.nEmbd !== current.nEmbd) {
    return `This probe was trained on ${saved.name} with ${shape(saved)}, but the loaded ${current.name} has ${shape(current)}: train a new probe here.`;
  }
  if (file.layer > current.nLayer) return `This probe reads layer ${file.layer}, which ${current.name} does not have (0–${current.nLayer}).`;
  return null;
}

/** A hidden state's name in the page: 0 is the embeddings, nLayer the output of the final layer norm. */
export function layerName(k: number, nLayer: number): string {
  if (k === 0) return 'layer 0 (embeddings)';
  if (k === nLayer) return `layer ${k} (after ln_f)`;
  return `layer ${k}`;
}
