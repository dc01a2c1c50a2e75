import { ImageGPTError } from './errors';
// JSON from untrusted files (config.json, preprocessor_config.json, safetensors headers): parse errors that
// name the file, and short excerpts of bad values for error messages. JSON.parse itself copes with any
// nesting depth, but JSON.stringify recurses, so a value nested thousands deep overflows the stack when an
// error message prints it; describeValue never goes deeper than a few levels and never prints much.

/** Containers deeper than this are shown as `[…]` / `{…}`. */
const MAX_DEPTH = 3;
/** At most this many elements or fields of one container are shown. */
const MAX_ITEMS = 8;
/** Strings are cut to this many characters. */
const MAX_STRING = 40;
/** Default bound on the whole excerpt. */
const DEFAULT_MAX_CHARS = 120;

/** At most this many characters of an untrusted name (a zip entry, a tensor or key, a URL) go into a message. */
export const MAX_NAME_CHARS = 120;

/**
 * `text` cut to at most `maxChars` characters for an error message: a longer one keeps its start and its end
 * (where a file or tensor name says most) around a note of its full length. Untrusted names can be any length
 * (a zip entry name of 60,000 characters), and a message must stay readable and small.
 */
export function clip(text: string, maxChars = MAX_NAME_CHARS): string {
  const s = String(text);
  if (s.length <= maxChars) return s;
  const note = `…(${s.length} characters)…`;
  const keep = Math.max(2, maxChars - note.length);
  const head = Math.ceil((keep * 2) / 3);
  return s.slice(0, head) + note + s.slice(s.length - (keep - head));
}

/**
 * An untrusted name in double quotes, clipped (see `clip`) and JSON-escaped so control characters cannot break
 * a message's lines. Escapes take up to 6 characters each, so the name is clipped shorter until the quoted
 * result fits: at most `maxChars` + 2 characters (for `maxChars` ≥ 40), whatever the name holds.
 */
export function quote(text: string, maxChars = MAX_NAME_CHARS): string {
  const s = String(text);
  let keep = maxChars;
  let out = JSON.stringify(clip(s, keep));
  while (out.length > maxChars + 2 && keep > 1) {
    keep = Math.floor(keep / 2);
    out = JSON.stringify(clip(s, keep));
  }
  return out;
}

/** Names for a message, each quoted (see `quote`), at most `maxItems` of them and then how many more. */
export function quoteList(names: readonly string[], maxItems = 4): string {
  const shown = names.slice(0, maxItems).map((n) => quote(n));
  if (names.length > maxItems) shown.push(`and ${names.length - maxItems} more`);
  return shown.join(', ');
}

/** Parses `text` as JSON; a failure is an Error naming `fileName` (the URL or file the text came from). */
export function parseJsonText(text: string, fileName: string): unknown {
  if (typeof text !== 'string') {
    throw new ImageGPTError('E_BAD_INPUT', `${clip(fileName)}: expected JSON text, got ${describeValue(text)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ImageGPTError('E_BAD_FILE', `${clip(fileName)} is not valid JSON: ${clip(errorMessage(e), 300)}`);
  }
}

/** The message of anything thrown (an Error's message, else the value as a string), for wrapping it in another. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A JSON object (not an array, not null). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A short, JSON-like excerpt of any value for an error message: at most MAX_DEPTH levels and MAX_ITEMS items
 * per container are shown, strings are cut, and the whole is at most `maxChars` characters (cut with `…`).
 * Never throws and never recurses deeper than MAX_DEPTH, whatever the value.
 */
export function describeValue(v: unknown, maxChars = DEFAULT_MAX_CHARS): string {
  let text: string;
  try {
    text = excerpt(v, 0);
  } catch {
    text = '(a value that cannot be shown)';
  }
  return text.length > maxChars ? `${text.slice(0, Math.max(1, maxChars - 1))}…` : text;
}

function excerpt(v: unknown, depth: number): string {
  switch (typeof v) {
    case 'string':
      return v.length > MAX_STRING ? `${JSON.stringify(v.slice(0, MAX_STRING))}…(${v.length} characters)` : JSON.stringify(v);
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint':
      return `${v}n`;
    case 'boolean':
      return String(v);
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
  }
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) {
    const name = v.constructor?.name ?? 'ArrayBufferView';
    return `${name}(${'length' in v ? String((v as unknown as ArrayLike<unknown>).length) : `${v.byteLength} bytes`})`;
  }
  if (v instanceof ArrayBuffer) return `ArrayBuffer(${v.byteLength} bytes)`;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (depth >= MAX_DEPTH) return `[…${plural(v.length, 'item')}]`;
    const shown = v.slice(0, MAX_ITEMS).map((item) => excerpt(item, depth + 1));
    if (v.length > MAX_ITEMS) shown.push(`…${v.length - MAX_ITEMS} more`);
    return `[${shown.join(', ')}]`;
  }
  const object = v as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length === 0) return '{}';
  if (depth >= MAX_DEPTH) return `{…${plural(keys.length, 'field')}}`;
  const shown = keys.slice(0, MAX_ITEMS).map((k) => `${excerpt(k, depth + 1)}: ${excerpt(object[k], depth + 1)}`);
  if (keys.length > MAX_ITEMS) shown.push(`…${keys.length - MAX_ITEMS} more`);
  return `{${shown.join(', ')}}`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
