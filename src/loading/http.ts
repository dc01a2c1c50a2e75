// HTTP for the loader: GET with the hub's error codes turned into plain errors, and weight files opened
// either for random access (Range requests, a bounded window plus one prefetched ahead) or, when the
// server ignores Range, as the very response's stream (never downloaded twice).
import { DEFAULT_WINDOW_BYTES, RangeCursor, streamCursor } from './cursor';
import type { ByteCursor } from './types';

/** Who is asked and how; `hub` names the repository in errors about it. */
export interface HttpContext {
  fetch: typeof fetch;
  signal?: AbortSignal;
  hub?: { repo: string; revision: string; host: string };
}

/** The error every aborted load rejects with. */
export function abortError(): Error {
  const e = new Error('ImageGPT.fromPretrained: the load was aborted (signal)');
  e.name = 'AbortError';
  return e;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url; // a relative URL: its host is wherever the page came from
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Content-Length when it is the file's length (not a compressed transfer's); undefined when unknown. */
export function contentLength(res: Response): number | undefined {
  if (res.headers.get('content-encoding')) return undefined;
  const text = res.headers.get('content-length');
  if (text === null || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text);
}

/**
 * GET `url`. Resolves with a 200/206 response, or null when the file does not exist (404 without a
 * repository or revision error). Anything else is an Error naming the URL and what went wrong.
 */
export async function httpGet(url: string, ctx: HttpContext, headers?: Record<string, string>): Promise<Response | null> {
  throwIfAborted(ctx.signal);
  let res: Response;
  try {
    res = await ctx.fetch(url, { signal: ctx.signal, headers });
  } catch (e) {
    if (ctx.signal?.aborted) throw abortError();
    throw new Error(`${url}: could not reach ${hostOf(url)} (${message(e)})`, { cause: e });
  }
  if (res.status === 200 || res.status === 206) return res;
  await res.body?.cancel().catch(() => {});
  const code = res.headers.get('x-error-code');
  const hub = ctx.hub;
  if (code === 'RepoNotFound') {
    const repo = hub ? `'${hub.repo}'` : 'of this URL';
    throw new Error(
      `repository ${repo} was not found on ${hub?.host ?? hostOf(url)} (or it is private/gated): ${url} answered HTTP ${res.status}`,
    );
  }
  if (code === 'RevisionNotFound') {
    const what = hub ? `revision '${hub.revision}' of repository '${hub.repo}'` : 'the revision in this URL';
    throw new Error(`${what} was not found on ${hub?.host ?? hostOf(url)}: ${url} answered HTTP ${res.status}`);
  }
  if (res.status === 404) return null;
  if (res.status === 401 || res.status === 403) {
    throw new Error(`${url}: HTTP ${res.status} ${res.statusText} (the file needs authorization: a private or gated repository?)`);
  }
  throw new Error(`${url}: HTTP ${res.status} ${res.statusText}${code ? ` (${code})` : ''}`);
}

/** `bytes a-b/total` of a 206 response. */
function parseContentRange(value: string | null): { start: number; end: number; total: number } | null {
  const m = value === null ? null : /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value.trim());
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]) + 1, total: Number(m[3]) };
}

/**
 * The body of a range response, which must be `length` bytes, read into one array of that size (no
 * list of chunks concatenated at the end: half the memory). Null when the body's length differs.
 */
async function bodyBytes(res: Response, length: number, url: string, signal: AbortSignal | undefined): Promise<Uint8Array | null> {
  try {
    if (!res.body) {
      const all = new Uint8Array(await res.arrayBuffer());
      return all.length === length ? all : null;
    }
    const out = new Uint8Array(length);
    const reader = res.body.getReader();
    let at = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.length > length) {
        await reader.cancel().catch(() => {});
        return null;
      }
      out.set(value, at);
      at += value.length;
    }
    return at === length ? out : null;
  } catch (e) {
    throwIfAborted(signal);
    throw new Error(`${url}: the download failed or broke off (${message(e)})`, { cause: e });
  }
}

/** A signal that fires when `parent` does or when `abort()` is called (to drop a prefetch). */
function childSignal(parent: AbortSignal | undefined): AbortController {
  const c = new AbortController();
  if (parent) {
    if (parent.aborted) c.abort(parent.reason);
    else parent.addEventListener('abort', () => c.abort(parent.reason), { once: true });
  }
  return c;
}

export interface OpenOptions {
  /** Try Range requests (random access, bounded memory). Without it: one plain GET, read as a stream. */
  range: boolean;
  /** Bytes per Range request (default 4 MiB). */
  windowBytes?: number;
}

/**
 * Opens `url` as a ByteCursor, or null when it does not exist. With `range`, the first request asks for
 * the first window: a 206 with a matching Content-Range gives random access by further Range requests,
 * a 200 (Range ignored) is used as it is, as a forward-only stream.
 */
export async function openHttpFile(url: string, name: string, ctx: HttpContext, opts: OpenOptions): Promise<ByteCursor | null> {
  const windowBytes = opts.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const res = await httpGet(url, ctx, opts.range ? { Range: `bytes=0-${windowBytes - 1}` } : undefined);
  if (!res) return null;
  if (res.status === 206 && opts.range) {
    const header = res.headers.get('content-range');
    const range = parseContentRange(header);
    if (header === null) {
      // A cross-origin server that does not expose Content-Range: no random access; read it as one stream.
      await res.body?.cancel().catch(() => {});
      return openHttpFile(url, name, ctx, { ...opts, range: false });
    }
    if (!range || range.start !== 0) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`${url}: asked for bytes 0-${windowBytes - 1}, the server answered 206 with Content-Range ${JSON.stringify(header)}`);
    }
    const first = await bodyBytes(res, range.end - range.start, url, ctx.signal);
    if (!first) throw new Error(`${url}: Content-Range says ${range.end - range.start} bytes, the body has a different length`);
    const ranges = new RangeFetcher(url, ctx, range.total, windowBytes, first);
    return new RangeCursor(name, range.total, (s, e) => ranges.get(s, e), windowBytes, async () => ranges.close());
  }
  if (res.status === 206) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`${url}: HTTP 206 (partial content) to a request without Range`);
  }
  if (!res.body) return streamCursor(name, new Blob([await res.arrayBuffer()]).stream(), contentLength(res));
  return streamCursor(name, res.body, contentLength(res));
}

/**
 * Serves byte ranges of one file by Range requests. It keeps the last window it fetched (reads that
 * overlap it cost nothing) and one window fetched ahead of it (what a front-to-back reader asks for next),
 * so memory stays at about two windows and no byte is downloaded twice by a reader going forward.
 */
class RangeFetcher {
  private have: { start: number; data: Uint8Array } | null;
  private ahead: { start: number; end: number; data: Promise<Uint8Array>; controller: AbortController } | null = null;

  constructor(
    private readonly url: string,
    private readonly ctx: HttpContext,
    private readonly size: number,
    private readonly windowBytes: number,
    first: Uint8Array,
  ) {
    this.have = { start: 0, data: first };
  }

  private async fetchRange(start: number, end: number, controller: AbortController): Promise<Uint8Array> {
    const ctx: HttpContext = { ...this.ctx, signal: controller.signal };
    const res = await httpGet(this.url, ctx, { Range: `bytes=${start}-${end - 1}` });
    if (!res) throw new Error(`${this.url}: HTTP 404 for bytes ${start}-${end - 1} of a file that answered before`);
    if (res.status !== 206) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`${this.url}: asked for bytes ${start}-${end - 1}, got HTTP ${res.status} instead of 206 (the server stopped honouring Range)`);
    }
    const range = parseContentRange(res.headers.get('content-range'));
    if (!range || range.start !== start || range.end !== end || range.total !== this.size) {
      await res.body?.cancel().catch(() => {});
      throw new Error(
        `${this.url}: asked for bytes ${start}-${end - 1} of ${this.size}, the server sent Content-Range ${JSON.stringify(res.headers.get('content-range'))}`,
      );
    }
    const bytes = await bodyBytes(res, end - start, this.url, this.ctx.signal);
    if (!bytes) throw new Error(`${this.url}: bytes ${start}-${end - 1} should be ${end - start} bytes, the body has a different length`);
    return bytes;
  }

  private prefetch(start: number): void {
    const end = Math.min(this.size, start + this.windowBytes);
    if (start >= end) return;
    const controller = childSignal(this.ctx.signal);
    const data = this.fetchRange(start, end, controller);
    data.catch(() => {}); // an unused prefetch's failure is nobody's error; a used one is rethrown by get
    this.ahead = { start, end, data, controller };
  }

  async get(start: number, end: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let at = start;
    const take = (from: number, data: Uint8Array) => {
      if (at < from || at >= from + data.length) return;
      const n = Math.min(end, from + data.length) - at;
      parts.push(data.subarray(at - from, at - from + n));
      at += n;
    };
    if (this.have) take(this.have.start, this.have.data);
    const ahead = this.ahead;
    if (at < end && ahead && at >= ahead.start && at < ahead.end) {
      this.ahead = null;
      this.have = { start: ahead.start, data: await ahead.data };
      take(this.have.start, this.have.data);
    }
    if (at < end) {
      this.ahead?.controller.abort();
      this.ahead = null;
      const data = await this.fetchRange(at, end, childSignal(this.ctx.signal));
      this.have = { start: at, data };
      take(at, data);
    }
    if (!this.ahead && this.have) this.prefetch(this.have.start + this.have.data.length);
    return parts.length === 1 ? parts[0] : concat(parts);
  }

  close(): void {
    this.ahead?.controller.abort();
    this.ahead = null;
    this.have = null;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
