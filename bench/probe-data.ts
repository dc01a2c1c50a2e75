// The probe's data: the emoji images and their index, which categories are kept, the stratified training
// subsample and the validation fold held out by emoji name.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { seededRandom } from '../scripts/random';

export interface EmojiEntry {
  name: string;
  vendor: string;
  category: string;
  split: 'train' | 'heldout';
  variant: string;
  /** A skin-tone variant beyond the one per emoji and vendor (prepare_data.py keeps them all for training). */
  extra_variant?: boolean;
}

/** What kind of row, outside the probe's pool, `entry` is (a plural noun for the report), or null when it is in it. */
export function leftOutOfProbe(entry: EmojiEntry): string | null {
  if (entry.extra_variant === true) return 'extra skin-tone variants';
  if (entry.vendor === 'fluent') return 'Fluent Emoji images';
  return null;
}

/**
 * The rows the probe uses: base emoji and one skin-tone variant per emoji and vendor from the two
 * emoji-datasource vendors, the pool it was written for. prepare_data.py has since added every other skin-tone
 * variant and Microsoft's Fluent Emoji, training rows only: counted here they would make People & Body most of
 * the training pool and the accuracies would no longer compare with earlier runs. Indices into `entries`.
 */
export function probePool(entries: readonly EmojiEntry[]): { pool: number[]; leftOut: Record<string, number> } {
  const pool: number[] = [];
  const leftOut: Record<string, number> = {};
  entries.forEach((e, i) => {
    const why = leftOutOfProbe(e);
    if (why === null) pool.push(i);
    else leftOut[why] = (leftOut[why] ?? 0) + 1;
  });
  return { pool, leftOut };
}

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

/** A JSON file, parsed; a missing file is named. */
export function readJson(path: string): unknown {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** The emoji images at `dir`, made by weights-tools/prepare_data.py when missing (it fetches npm packages). */
export function loadEmoji(dir: string, size: number): { entries: EmojiEntry[]; pixels: Uint8Array; side: number; prepared: boolean } {
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
