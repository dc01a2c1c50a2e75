// Mutations shared by the parser targets: byte-level (bit flips, truncation, splices) and JSON-level (a value
// anywhere in a document replaced by something hostile: deep nesting, huge or odd numbers, wrong types).
import type { Rng } from './harness';

/** A JSON array nested `depth` deep, as text (JSON.parse copes; JSON.stringify of it would not). */
export function deepJson(depth: number, open = '[', close = ']'): string {
  return open.repeat(depth) + close.repeat(depth);
}

/**
 * A long name (a key, a tensor or zip entry name, a pickle string): hundreds to ~70,000 characters, sometimes
 * with quotes, newlines, control characters and non-ASCII, the class of input that once made a message of
 * 60,135 characters by quoting a zip entry name whole (fuzz seed 914).
 */
export function longName(rng: Rng): string {
  const length = rng.pick([300, 3000, 70_000]);
  const alphabet = rng.pick(['x', 'transformer.h.0.', 'a"b\\c\n\u0001', 'é€\u202e', '/data/0 ']);
  return alphabet.repeat(Math.ceil(length / alphabet.length)).slice(0, length);
}

/** Values that break naive parsers: wrong types, edge numbers, deep and long things. As JSON text. */
export function hostileJson(rng: Rng): string {
  switch (rng.int(12)) {
    case 0:
      return deepJson(rng.pick([64, 1000, 5000, 20000]));
    case 1:
      return deepJson(rng.pick([64, 1000, 5000]), '{"a":', '}');
    case 2:
      return rng.pick(['1e308', '-1e308', '1e400', '-0', '0', '-1', '1.5', '9007199254740993', '4294967296', '2147483648', '1e-320', '123456789012345678901234567890']);
    case 3:
      return rng.pick(['"1"', '"0.2"', '""', '"true"', '"null"', '"NaN"', '"F32"', '"quick_gelu"']);
    case 4:
      return rng.pick(['true', 'false', 'null']);
    case 5:
      return rng.pick(['[]', '{}', '[1]', '[[1, 2, 3]]', '[0, 2]', '{"height": 1}', '[null]', '["a"]']);
    case 6:
      return JSON.stringify('x'.repeat(rng.pick([100, 10000, 200000])));
    case 7:
      return `[${Array.from({ length: rng.pick([3, 100, 10000]) }, () => rng.int(100)).join(',')}]`;
    case 8:
      return String(rng.range(-3, 70000));
    case 9:
      return String(2 ** rng.range(0, 70));
    case 10:
      return `{${Array.from({ length: rng.pick([1, 50, 5000]) }, (_, i) => `"k${i}": ${i}`).join(',')}}`;
    default:
      return JSON.stringify(rng.float() * rng.pick([1, 1e-40, 1e40]));
  }
}

/** Paths to every value in a parsed JSON document (at most `limit`, breadth first, never deeper than `maxDepth`). */
function valuePaths(doc: unknown, limit = 2000, maxDepth = 6): (string | number)[][] {
  const paths: (string | number)[][] = [];
  const queue: { value: unknown; path: (string | number)[] }[] = [{ value: doc, path: [] }];
  while (queue.length > 0 && paths.length < limit) {
    const { value, path } = queue.shift()!;
    paths.push(path);
    if (path.length >= maxDepth || typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      // A few elements of a long array are enough (clusters have 512 rows).
      const n = value.length;
      const picks = n <= 8 ? [...Array(n).keys()] : [0, 1, n - 1, Math.floor(n / 2)];
      for (const i of picks) queue.push({ value: value[i], path: [...path, i] });
    } else {
      for (const [k, v] of Object.entries(value)) queue.push({ value: v, path: [...path, k] });
    }
  }
  return paths;
}

const PLACEHOLDER = '"@@fuzz-placeholder@@"';

/**
 * A mutated copy of `doc` as JSON text: one to three values replaced by hostile ones, a key deleted or
 * added, or a container emptied. Hostile values are spliced in as text, so they may be deeper than
 * JSON.stringify could write.
 */
export function mutateJsonDocument(rng: Rng, doc: unknown): string {
  const copy = JSON.parse(JSON.stringify(doc)) as unknown;
  const splices: string[] = [];
  const edits = rng.range(1, 3);
  for (let e = 0; e < edits; e++) {
    const paths = valuePaths(copy);
    const path = rng.pick(paths);
    if (path.length === 0) {
      if (rng.chance(0.3)) return hostileJson(rng);
      continue;
    }
    const parent = path.slice(0, -1).reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], copy) as Record<string | number, unknown>;
    const key = path[path.length - 1];
    const action = rng.int(10);
    if (action === 0 && !Array.isArray(parent)) {
      delete parent[key];
    } else if (action === 1 && !Array.isArray(parent)) {
      // defineProperty: "__proto__" must become a key, as JSON.parse makes it.
      const name = rng.pick(['__proto__', 'constructor', 'toString', 'extra', 'n_inner', 'size', 'clusters', 'dtype']);
      Object.defineProperty(parent, name, { value: JSON.parse(PLACEHOLDER), enumerable: true, writable: true, configurable: true });
      splices.push(hostileJson(rng));
    } else if (action === 4 && !Array.isArray(parent) && rng.chance(0.5)) {
      // A key renamed to a long one, its value kept (a tensor, a config field, a metadata key).
      const value = parent[key];
      delete parent[key];
      Object.defineProperty(parent, longName(rng), { value, enumerable: true, writable: true, configurable: true });
    } else if (action === 2 && Array.isArray(parent)) {
      parent.length = rng.int(parent.length + 1);
    } else if (action === 3 && Array.isArray(parent)) {
      parent.push(JSON.parse(PLACEHOLDER));
      splices.push(hostileJson(rng));
    } else {
      parent[key] = JSON.parse(PLACEHOLDER);
      splices.push(hostileJson(rng));
    }
  }
  let text = JSON.stringify(copy);
  const placeholder = JSON.stringify(JSON.parse(PLACEHOLDER));
  for (const s of splices) text = text.replace(placeholder, () => s);
  return text;
}

/** Text-level damage to JSON: truncation, a byte changed, a character inserted. */
export function damageText(rng: Rng, text: string): string {
  if (text.length === 0) return rng.pick(['', '{', '[', 'null']);
  const at = rng.int(text.length);
  switch (rng.int(4)) {
    case 0:
      return text.slice(0, at);
    case 1:
      return text.slice(0, at) + rng.pick(['{', '}', '[', ']', '"', ',', ':', '\\', '\u0000', 'é', '\ud800']) + text.slice(at + 1);
    case 2:
      return text.slice(0, at) + rng.pick(['{', '"', ',', ' ', '1e999', 'NaN', 'undefined']) + text.slice(at);
    default:
      return text.slice(0, at) + text.slice(at + rng.range(1, 20));
  }
}

/** Byte-level damage: bit flips, byte sets, truncation, extension, splices of a region. Returns a new array. */
export function mutateBytes(rng: Rng, bytes: Uint8Array, focus?: { start: number; end: number }): Uint8Array {
  let out = bytes.slice();
  const edits = rng.range(1, 4);
  for (let e = 0; e < edits; e++) {
    const lo = focus && rng.chance(0.7) ? Math.min(focus.start, out.length) : 0;
    const hi = focus && rng.chance(0.7) ? Math.min(focus.end, out.length) : out.length;
    const at = hi > lo ? lo + rng.int(hi - lo) : 0;
    switch (rng.int(7)) {
      case 0:
      case 1:
        if (out.length > 0) out[at] ^= 1 << rng.int(8);
        break;
      case 2:
        if (out.length > 0) out[at] = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(256)]);
        break;
      case 3:
        out = out.slice(0, rng.int(out.length + 1));
        break;
      case 4: {
        const extra = new Uint8Array(rng.pick([1, 7, 64, 4096])).map(() => rng.int(256));
        const grown = new Uint8Array(out.length + extra.length);
        grown.set(out.subarray(0, at));
        grown.set(extra, at);
        grown.set(out.subarray(at), at + extra.length);
        out = grown;
        break;
      }
      case 5: {
        // Drop a run of bytes.
        const n = rng.range(1, 64);
        out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(Math.min(out.length, at + n))]);
        break;
      }
      default: {
        // Copy a run from elsewhere over this place.
        if (out.length < 2) break;
        const from = rng.int(out.length);
        const n = Math.min(rng.range(1, 32), out.length - from, out.length - at);
        out.copyWithin(at, from, from + n);
      }
    }
  }
  return out;
}
