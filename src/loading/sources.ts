// Sources: a PretrainedSource (hub id, base URL, { config, weights } bytes, local files) and the FileOptions
// become one file provider that opens a model folder's files by name, through the cache where there is one.
import { blobCursor, memoryCursor, streamCursor } from './cursor';
import { isMissing, missingResponse, resolveCache, type BestEffortCache, type CacheTee, type CacheTimeouts } from './cache';
import { abortError, contentLength, describeCause, httpGet, openHttpFile, raceAbort, throwIfAborted, wholeLength, type HttpContext } from './http';
import type { ByteCursor, FileOptions, LocalFiles, ModelCache, PretrainedSource } from './types';
import { clip, describeValue, errorMessage, parseJsonText, quote } from '../json';
import { ImageGPTError } from '../errors';

export const DEFAULT_HOST = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

/** An opened file: its bytes, and whether they come from the network or not (cache, memory, disk). */
export interface OpenedFile {
  cursor: ByteCursor;
  phase: 'download' | 'cached';
  /** Call once the file was read whole (`ok`) or not: completes or cancels its cache write. */
  settle(ok: boolean): void;
}

/** A model folder, wherever it is. */
export interface FileProvider {
  /** For messages: "hub repo 'org/name' (revision 'main') on https://huggingface.co", a URL, ... */
  describe(): string;
  /** Where `file` is, for messages. */
  where(file: string): string;
  /** The parsed JSON file, or null when it does not exist. */
  json(file: string): Promise<unknown | null>;
  /** `weights`: a weight file (Range requests allowed, cached by streaming). Null when it does not exist. */
  open(file: string, weights: boolean): Promise<OpenedFile | null>;
  /** After a successful load: remembers the files found missing and waits for cache writes. */
  finish(): Promise<void>;
  /** After a failed load: drops pending cache writes. */
  fail(reason: unknown): void;
}

const HUB_ID = /^[A-Za-z0-9_][\w.-]*(\/[A-Za-z0-9_][\w.-]*)?$/;
const URL_LIKE = /^([a-z][a-z0-9+.-]*:|\/|\.\/|\.\.\/)/i;

/** `base` + '/' + `file`, whether or not base ends with a slash; a query string stays at the end. */
export function joinUrl(base: string, file: string): string {
  const q = base.indexOf('?');
  const path = q >= 0 ? base.slice(0, q) : base;
  const query = q >= 0 ? base.slice(q) : '';
  return `${path.replace(/\/+$/, '')}/${file}${query}`;
}

export function isHubId(s: string): boolean {
  return HUB_ID.test(s) && !s.includes('..') && !s.includes('--');
}

function parseJson(text: string, file: string, where: string): unknown {
  return parseJsonText(text, where === file ? file : `${file} (${where})`);
}

function isBytes(w: unknown): w is ArrayBuffer | Uint8Array {
  return w instanceof ArrayBuffer || w instanceof Uint8Array;
}

function isLocalFiles(s: unknown): s is LocalFiles {
  if (s instanceof Map) return true;
  if (Array.isArray(s)) return true;
  return typeof FileList !== 'undefined' && s instanceof FileList;
}

/**
 * Where warnings go: `onWarning`, else console.warn. A warning callback that throws is ignored (a warning
 * must not fail the load it is about).
 */
export function warnerOf(options: FileOptions): (message: string) => void {
  const warn = options.onWarning ?? ((message: string) => console.warn(`imagegpt-webgpu: ${message}`));
  return (message) => {
    try {
      void Promise.resolve(warn(message)).catch(() => {});
    } catch {
      // ignored: see above
    }
  };
}

/** Checks the callbacks and the signal of FileOptions (a wrong type would only fail deep inside the load). */
function checkCallbacks(options: FileOptions): void {
  for (const key of ['onProgress', 'onWarning', 'fetch'] as const) {
    const v = options[key];
    if (v !== undefined && typeof v !== 'function') throw new ImageGPTError('E_BAD_INPUT', `options.${key} must be a function, got ${describeValue(v)}`);
  }
  // Every wait is raced against the signal: anything else would fail deep inside the first one.
  const signal: unknown = options.signal;
  const s = signal as { aborted?: unknown; addEventListener?: unknown } | null;
  if (signal !== undefined && (typeof s !== 'object' || s === null || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function')) {
    throw new ImageGPTError('E_BAD_INPUT', `options.signal must be an AbortSignal (e.g. AbortSignal.timeout(ms)), got ${describeValue(signal)}`);
  }
}

/** Internal knobs (tests): the cache's timeouts. */
export interface SourceInternals {
  cacheTimeouts?: Partial<CacheTimeouts>;
}

/** Turns a source and its options into a file provider. Checks the source's shape; makes no request but opening the cache. */
export async function openSource(source: PretrainedSource, options: FileOptions = {}, internals: SourceInternals = {}): Promise<FileProvider> {
  checkCallbacks(options);
  const cacheOf = () => resolveCache(options.cache, { signal: options.signal, warn: warnerOf(options), timeouts: internals.cacheTimeouts });
  if (typeof source === 'string' || source instanceof URL) {
    const text = String(source);
    if (typeof source === 'string' && !URL_LIKE.test(text)) {
      if (!isHubId(text)) {
        throw new ImageGPTError('E_BAD_INPUT', 
          `source ${quote(text)} is neither a hub id ('name' or 'org/name': letters, digits, '_', '-', '.') ` +
            "nor a URL (with a scheme, or starting with '/', './' or '../')",
        );
      }
      const host = (options.host ?? DEFAULT_HOST).replace(/\/+$/, '');
      const revision = options.revision ?? DEFAULT_REVISION;
      if (typeof revision !== 'string' || revision.length === 0) throw new ImageGPTError('E_BAD_INPUT', `options.revision must be a non-empty string, got ${describeValue(revision)}`);
      const prefix = `${host}/${text}/resolve/${encodeURIComponent(revision)}`;
      return new HttpFiles(
        (file) => `${prefix}/${file}`,
        `hub repo '${text}' (revision '${revision}') on ${host}`,
        { fetch: fetchOf(options), signal: options.signal, hub: { repo: text, revision, host } },
        await cacheOf(),
      );
    }
    return new HttpFiles((file) => joinUrl(text, file), text, { fetch: fetchOf(options), signal: options.signal }, await cacheOf());
  }
  if (isLocalFiles(source)) return new LocalFileProvider(source);
  if (typeof source === 'object' && source !== null && 'config' in source && 'weights' in source) {
    return new BytesProvider(source as { config: unknown; weights: unknown; preprocessor?: unknown });
  }
  throw new ImageGPTError('E_BAD_INPUT', 
    'source must be a hub id, a URL, { config, weights } or local files (FileList, File[] or Map<string, Blob>); ' +
      `got ${source === null ? 'null' : typeof source}`,
  );
}

function fetchOf(options: FileOptions): typeof fetch {
  const f = options.fetch ?? (globalThis.fetch as typeof fetch | undefined);
  if (typeof f !== 'function') throw new ImageGPTError('E_UNSUPPORTED', 'no fetch() in this runtime: pass options.fetch, or { config, weights } / local files');
  // Called as a plain function later: browsers throw "Illegal invocation" unless fetch's `this` is the global
  // (also for `{ fetch: window.fetch }`); a caller's own function does not mind.
  return (input, init) => f.call(globalThis, input, init);
}

/** Files at URLs (hub or base URL), through the cache when there is one. */
class HttpFiles implements FileProvider {
  private readonly missing: string[] = [];
  private readonly tees: CacheTee[] = [];

  constructor(
    private readonly url: (file: string) => string,
    private readonly description: string,
    private readonly ctx: HttpContext,
    private readonly cache: BestEffortCache | null,
  ) {}

  describe(): string {
    return this.description;
  }

  where(file: string): string {
    return this.url(file);
  }

  private async cached(url: string): Promise<Response | null | undefined> {
    if (!this.cache) return undefined;
    throwIfAborted(this.ctx.signal);
    const hit = await this.cache.match(url);
    if (!hit) return undefined;
    return isMissing(hit) ? null : hit;
  }

  /** A cached text file, or undefined when the cache cannot give it (then it is downloaded). */
  private async cachedText(url: string, hit: Response): Promise<string | undefined> {
    try {
      return await raceAbort(hit.text(), this.ctx.signal);
    } catch (e) {
      throwIfAborted(this.ctx.signal);
      this.cache?.failedRead(url, e);
      return undefined;
    }
  }

  private notFound(url: string): null {
    this.missing.push(url);
    return null;
  }

  async json(file: string): Promise<unknown | null> {
    const url = this.url(file);
    const hit = await this.cached(url);
    if (hit === null) return null;
    const cachedText = hit ? await this.cachedText(url, hit) : undefined;
    if (cachedText !== undefined) return parseJson(cachedText, file, `${url} (cached)`);
    const res = await httpGet(url, this.ctx);
    if (!res) return this.notFound(url);
    wholeLength(res, url); // a 206 that is not the whole file is an error
    let text: string;
    try {
      text = await raceAbort(res.text(), this.ctx.signal);
    } catch (e) {
      throwIfAborted(this.ctx.signal);
      throw new ImageGPTError('E_NETWORK', `${clip(file)}: the download from ${clip(url)} failed or broke off (${describeCause(e)})`, { cause: e });
    }
    const value = parseJson(text, file, url);
    this.cache?.put(url, new Response(text, { headers: { 'content-type': 'application/json' } }));
    return value;
  }

  async open(file: string, weights: boolean): Promise<OpenedFile | null> {
    const url = this.url(file);
    const hit = await this.cached(url);
    if (hit === null) return null;
    if (hit) {
      // A cached body is read as it is: once parsing began, a failure is the load's (tensors went to the GPU).
      if (hit.body) return { cursor: streamCursor(file, hit.body, contentLength(hit), this.ctx.signal), phase: 'cached', settle: () => {} };
      this.cache?.failedRead(url, new ImageGPTError('E_BAD_INPUT', 'the cached response has no body'));
    }
    if (!this.cache) {
      const cursor = await openHttpFile(url, file, this.ctx, { range: weights });
      return cursor ? { cursor, phase: 'download', settle: () => {} } : this.notFound(url);
    }
    // One full GET: its body is parsed and cached at once.
    const res = await httpGet(url, this.ctx);
    if (!res) return this.notFound(url);
    const size = wholeLength(res, url);
    const tee = this.cache.tee(res, url);
    this.tees.push(tee);
    return {
      cursor: streamCursor(file, tee.body, size, this.ctx.signal),
      phase: 'download',
      settle: (ok) => (ok ? tee.succeed() : tee.fail(new ImageGPTError('E_INTERNAL', `${clip(file)}: not read whole`))),
    };
  }

  async finish(): Promise<void> {
    if (!this.cache) return;
    for (const url of this.missing) this.cache.put(url, missingResponse());
    await this.cache.settle();
  }

  fail(reason: unknown): void {
    this.cache?.abandon();
    for (const t of this.tees) t.fail(reason ?? abortError());
  }
}

const NOTHING = { settle: () => {} };

/** `{ config, weights }`: config.json is `config` (and preprocessor_config.json `preprocessor`, when given). */
class BytesProvider implements FileProvider {
  private readonly bytes: Uint8Array;
  private readonly torch: boolean;

  constructor(private readonly source: { config: unknown; weights: unknown; preprocessor?: unknown }) {
    if (!isBytes(source.weights)) {
      throw new ImageGPTError('E_BAD_INPUT', '{ config, weights }: weights must be the bytes (ArrayBuffer or Uint8Array) of model.safetensors or pytorch_model.bin');
    }
    const w = source.weights;
    // A plain Uint8Array even for a Node Buffer (whose slice() would not copy).
    this.bytes = w instanceof Uint8Array ? new Uint8Array(w.buffer, w.byteOffset, w.byteLength) : new Uint8Array(w);
    const b = this.bytes;
    this.torch = b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04; // 'PK\x03\x04': a zip
  }

  describe(): string {
    return 'the { config, weights } object';
  }

  where(file: string): string {
    return `${file} of the { config, weights } object`;
  }

  async json(file: string): Promise<unknown | null> {
    if (file === 'config.json') return this.source.config;
    if (file === 'preprocessor_config.json') return this.source.preprocessor ?? null;
    return null;
  }

  async open(file: string): Promise<OpenedFile | null> {
    const name = this.torch ? 'pytorch_model.bin' : 'model.safetensors';
    if (file !== name) return null;
    return { cursor: memoryCursor(name, this.bytes), phase: 'cached', ...NOTHING };
  }

  async finish(): Promise<void> {}
  fail(): void {}
}

/** A model folder picked or dropped by the user: names matched exactly, after the picked folder's own name. */
class LocalFileProvider implements FileProvider {
  private readonly files = new Map<string, Blob>();

  constructor(source: LocalFiles) {
    const add = (name: string, blob: Blob) => {
      if (this.files.has(name)) throw new ImageGPTError('E_BAD_INPUT', `local files: two files named ${quote(name)}`);
      this.files.set(name, blob);
    };
    if (source instanceof Map) {
      for (const [name, blob] of source) {
        if (typeof name !== 'string' || !(blob instanceof Blob)) throw new ImageGPTError('E_BAD_INPUT', `local files: the Map must hold file name → Blob; ${quote(String(name))} is not`);
        add(name, blob);
      }
    } else {
      for (const f of Array.from(source as ArrayLike<File>)) {
        if (!(f instanceof Blob) || typeof (f as File).name !== 'string') throw new ImageGPTError('E_BAD_INPUT', 'local files: every entry must be a File');
        add(localName(f), f);
      }
    }
  }

  describe(): string {
    const names = [...this.files.keys()];
    return `the local files (${names.length === 0 ? 'none' : names.slice(0, 8).join(', ') + (names.length > 8 ? ', …' : '')})`;
  }

  where(file: string): string {
    return `local file ${file}`;
  }

  async json(file: string): Promise<unknown | null> {
    const blob = this.files.get(file);
    return blob ? parseJson(await blob.text(), file, 'the local files') : null;
  }

  async open(file: string): Promise<OpenedFile | null> {
    const blob = this.files.get(file);
    return blob ? { cursor: blobCursor(file, blob), phase: 'cached', ...NOTHING } : null;
  }

  async finish(): Promise<void> {}
  fail(): void {}
}

/** A folder picker's files carry 'folder/file' in webkitRelativePath: the picked folder's name goes. */
function localName(f: File): string {
  const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath;
  if (rel) {
    const slash = rel.indexOf('/');
    return slash >= 0 ? rel.slice(slash + 1) : rel;
  }
  return f.name;
}

/**
 * preprocessor_config.json of a source, parsed (for ImageGPTImageProcessor.fromPretrained). A
 * `{ config, weights }` source needs a `preprocessor` field (its parsed contents).
 */
export async function loadPreprocessorConfig(source: PretrainedSource, options: FileOptions = {}): Promise<{ config: unknown; origin: string }> {
  const files = await openSource(source, options);
  const file = 'preprocessor_config.json';
  const value = await files.json(file);
  if (value === null) {
    if (source !== null && typeof source === 'object' && 'weights' in source) {
      throw new ImageGPTError('E_BAD_INPUT', '{ config, weights }: no preprocessor_config.json here; add its parsed contents as `preprocessor`, or pass them alone');
    }
    throw new ImageGPTError('E_NOT_FOUND', `${file} was not found in ${files.describe()} (${files.where(file)}: HTTP 404 or no such file)`);
  }
  await files.finish();
  return { config: value, origin: files.where(file) };
}
