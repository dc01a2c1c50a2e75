// HTTP for the loader: GET with the hub's error codes turned into plain errors, and weight files opened
// either for random access (open-ended Range requests read as streams, a new one only where the reader
// jumps) or, when the server ignores Range, as the very response's stream (never downloaded twice).
import { checkLength, endedEarly, memoryCursor, streamCursor } from './cursor';
import type { ByteCursor } from './types';
import { clip } from '../json';
import { abortedError, ImageGPTError } from '../errors';

/** Who is asked and how; `hub` names the repository in errors about it. */
export interface HttpContext {
  fetch: typeof fetch;
  signal?: AbortSignal;
  hub?: { repo: string; revision: string; host: string };
  /**
   * Set once a 206 came without a readable Content-Range (a cross-origin server that does not expose it):
   * Range answers cannot be checked, so later files skip the Range request and take one plain GET.
   */
  rangeUnverifiable?: boolean;
}

/** The error every aborted load rejects with. */
export function abortError(): ImageGPTError {
  return abortedError('ImageGPT.fromPretrained: the load was aborted (signal)');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

/**
 * Settles as `work` does, or rejects with abortError() as soon as `signal` aborts: caller code (a cache, a
 * fetch wrapper) and stream reads may never settle, and an abort must still end the load. `work` is left to
 * settle on its own (its rejection is observed, never unhandled).
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  work.catch(() => {});
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Calls caller code that should return a promise: a synchronous throw becomes a rejection, a plain value a resolution. */
export function callerPromise<T>(call: () => T | PromiseLike<T>): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Cancels a stream or reader without waiting: the promise of cancel() on a tee or clone branch settles only
 * once its twin is cancelled or read too, which the caller's code (a cache keeping a clone) may never do.
 */
export function cancelQuietly(target: { cancel(reason?: unknown): Promise<void> } | null | undefined, reason?: unknown): void {
  if (!target) return;
  try {
    target.cancel(reason).catch(() => {});
  } catch {
    // a locked stream throws: whoever holds its reader cancels it
  }
}

/** The most characters of an error's causes quoted in a message. */
const CAUSE_CHARS = 300;

/**
 * An error and its causes in one bounded line: "fetch failed: redirect count exceeded",
 * "fetch failed: Headers Timeout Error (UND_ERR_HEADERS_TIMEOUT)".
 */
export function describeCause(e: unknown): string {
  const parts: string[] = [];
  let c: unknown = e;
  for (let depth = 0; depth < 4 && c !== undefined && c !== null; depth++) {
    let part = c instanceof Error ? c.message : String(c);
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && !part.includes(code)) part = part ? `${part} (${code})` : code;
    // An AggregateError (every address refused) says nothing itself: its first error does.
    if (!part && c instanceof AggregateError && c.errors.length > 0) part = describeCause(c.errors[0]);
    if (part && !parts.includes(part)) parts.push(part);
    c = c instanceof Error ? c.cause : undefined;
  }
  const text = parts.join(': ') || 'no reason given';
  return text.length > CAUSE_CHARS ? `${text.slice(0, CAUSE_CHARS - 1)}…` : text;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url; // a relative URL: its host is wherever the page came from
  }
}

/** Content-Length when it is the file's length (not a compressed transfer's); undefined when unknown. */
export function contentLength(res: Response): number | undefined {
  if (res.headers.get('content-encoding')) return undefined;
  const text = res.headers.get('content-length');
  if (text === null || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text);
}

/** Whether a value a caller's fetch (or cache) gave is a Response this code can use. */
export function isResponse(v: unknown): v is Response {
  if (v instanceof Response) return true;
  const r = v as { status?: unknown; headers?: { get?: unknown } } | null;
  return typeof r === 'object' && r !== null && typeof r.status === 'number' && typeof r.headers?.get === 'function';
}

/**
 * GET `url`. Resolves with a 200/206 response, or null when the file does not exist (404 without a
 * repository or revision error). Anything else is an Error naming the URL and what went wrong. The fetch
 * is raced against the signal (a caller's fetch may ignore it).
 */
export async function httpGet(url: string, ctx: HttpContext, headers?: Record<string, string>, init?: RequestInit): Promise<Response | null> {
  throwIfAborted(ctx.signal);
  let answer: unknown;
  try {
    answer = await raceAbort(callerPromise(() => ctx.fetch(url, { ...init, signal: ctx.signal, headers })), ctx.signal);
  } catch (e) {
    if (ctx.signal?.aborted) throw abortError();
    throw new ImageGPTError('E_NETWORK', `${clip(url)}: could not reach ${clip(hostOf(url))} (${describeCause(e)})`, { cause: e });
  }
  if (!isResponse(answer)) throw new ImageGPTError('E_BAD_INPUT', `${clip(url)}: options.fetch resolved with ${answer === null ? 'null' : typeof answer}, expected a Response`);
  const res = answer;
  if (res.status === 200 || res.status === 206) return res;
  cancelQuietly(res.body);
  const code = res.headers.get('x-error-code');
  const hub = ctx.hub;
  if (code === 'RepoNotFound') {
    const repo = hub ? `'${hub.repo}'` : 'of this URL';
    throw new ImageGPTError('E_NOT_FOUND', 
      `repository ${repo} was not found on ${hub?.host ?? hostOf(url)} (or it is private/gated): ${url} answered HTTP ${res.status}`,
    );
  }
  if (code === 'RevisionNotFound') {
    const what = hub ? `revision '${hub.revision}' of repository '${hub.repo}'` : 'the revision in this URL';
    throw new ImageGPTError('E_NOT_FOUND', `${clip(what)} was not found on ${clip(hub?.host ?? hostOf(url))}: ${clip(url)} answered HTTP ${res.status}`);
  }
  if (res.status === 404) return null;
  if (res.status === 401 || res.status === 403) {
    throw new ImageGPTError('E_NETWORK', `${clip(url)}: HTTP ${res.status} ${clip(res.statusText)} (the file needs authorization: a private or gated repository?)`);
  }
  throw new ImageGPTError('E_NETWORK', `${clip(url)}: HTTP ${res.status} ${clip(res.statusText)}${code ? ` (${quote(code)})` : ''}`);
}

/** A header's value in a message, bounded (a server's text can be anything). */
function quote(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 99)}…` : value);
}

/** `bytes a-b/total` of a 206 response; `total` undefined for `bytes a-b/*` (RFC 9110: length unknown). */
export function parseContentRange(value: string | null): { start: number; end: number; total: number | undefined } | null {
  const m = value === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim());
  if (!m) return null;
  const range = { start: Number(m[1]), end: Number(m[2]) + 1, total: m[3] === '*' ? undefined : Number(m[3]) };
  return range.end > range.start && (range.total === undefined || range.end <= range.total) ? range : null;
}

export interface OpenOptions {
  /** Try Range requests (random access). Without it: one plain GET, read as a stream. */
  range: boolean;
  /** Forward jumps up to this many bytes read through the current response instead of a new request (default 256 KiB). */
  skipBytes?: number;
  /** A file up to this size is read whole into memory from its first response (default 1 MiB). */
  wholeBytes?: number;
}

/** A forward jump the current response reads through rather than being dropped for a new request. */
export const DEFAULT_SKIP_BYTES = 256 << 10;
/** A `read` up to this size is kept, so a read inside it (a zip's directory inside its tail) costs no request. */
const RECENT_BYTES = 128 << 10;
/**
 * Files up to this size are read whole from one response: a zip reader's head, tail and front would
 * otherwise cost a second request for a file under about DEFAULT_SKIP_BYTES + its tail (≈ 320 KiB).
 */
export const WHOLE_FILE_BYTES = 1 << 20;

/** The whole body of a response whose length is `size`, in memory, as a random-access cursor. */
async function wholeCursor(res: Response, url: string, name: string, ctx: HttpContext, size: number): Promise<ByteCursor> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await raceAbort(res.arrayBuffer(), ctx.signal));
  } catch (e) {
    if (ctx.signal?.aborted) throw abortError();
    throw new ImageGPTError('E_NETWORK', `${clip(name)}: the download from ${clip(url)} failed or broke off (${describeCause(e)})`, { cause: e });
  }
  if (bytes.length !== size) throw new ImageGPTError('E_NETWORK', `${clip(name)}: the download from ${clip(url)} gave ${bytes.length} bytes, expected ${size}`);
  return memoryCursor(name, bytes);
}

/**
 * The file's length from a response to a request without Range (undefined when unknown): a 200, or a 206
 * that says it carries the whole file (a cache between may answer so). Any other 206 is an Error.
 */
export function wholeLength(res: Response, url: string): number | undefined {
  if (res.status !== 206) return contentLength(res);
  const header = res.headers.get('content-range');
  const r = parseContentRange(header);
  if (r && r.start === 0 && (r.total === undefined || r.end === r.total)) return r.end;
  cancelQuietly(res.body);
  throw new ImageGPTError('E_NETWORK', 
    `${url}: HTTP 206 (partial content) to a request without Range, ` +
      (header === null ? 'with no readable Content-Range' : `with Content-Range ${quote(header)}`) +
      '; expected the whole file (HTTP 200)',
  );
}

/** A 200 response (or a 206 carrying the whole file): in memory when small, else read as a stream. */
function wholeFile(res: Response, url: string, name: string, ctx: HttpContext, size: number | undefined, opts: OpenOptions): Promise<ByteCursor> | ByteCursor {
  if (size !== undefined && size <= (opts.wholeBytes ?? WHOLE_FILE_BYTES)) return wholeCursor(res, url, name, ctx, size);
  return streamCursor(name, res.body ?? new Blob([]).stream(), size, ctx.signal);
}

/**
 * Opens `url` as a ByteCursor, or null when it does not exist. With `range`, the first request asks for
 * `bytes=0-`: a 206 with a matching Content-Range gives random access, its body being the first stream
 * read; a 200 (Range ignored) is used as it is, as a forward-only stream. A small file is read whole
 * either way. A 206 whose Content-Range cannot be read (a cross-origin server that does not expose it)
 * cannot be checked: the file is read by one plain GET instead, and so are the provider's later files.
 */
export async function openHttpFile(url: string, name: string, ctx: HttpContext, opts: OpenOptions): Promise<ByteCursor | null> {
  const range = opts.range && !ctx.rangeUnverifiable;
  const res = await httpGet(url, ctx, range ? { Range: 'bytes=0-' } : undefined, opts.range && !range ? { cache: 'no-store' } : undefined);
  if (!res) return null;
  const header = res.headers.get('content-range');
  if (res.status === 206 && range) {
    if (header === null) {
      cancelQuietly(res.body);
      ctx.rangeUnverifiable = true;
      return openHttpFile(url, name, ctx, opts);
    }
    const r = parseContentRange(header);
    if (!r || r.start !== 0 || !res.body) {
      cancelQuietly(res.body);
      throw new ImageGPTError('E_NETWORK', `${clip(url)}: asked for bytes 0-, the server answered 206 with Content-Range ${quote(header)}${res.body ? '' : ' and no body'}`);
    }
    // Unknown total (`/*`): no random access (a zip's tail is found from the end); the body is the file.
    if (r.total === undefined) return wholeFile(res, url, name, ctx, r.end, opts);
    if (r.end === r.total && r.total <= (opts.wholeBytes ?? WHOLE_FILE_BYTES)) return wholeCursor(res, url, name, ctx, r.total);
    return new HttpRangeCursor(name, url, ctx, r.total, opts.skipBytes ?? DEFAULT_SKIP_BYTES, { reader: res.body.getReader(), at: 0, end: r.end });
  }
  // No Range sent, or ignored: the whole file (a 206 must say so).
  return wholeFile(res, url, name, ctx, wholeLength(res, url), opts);
}

/** One Range response being read: the next byte it gives is `at`; it carries the file up to `end`. */
interface RangeBody {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  at: number;
  end: number;
  /** Bytes received and not yet consumed (a tail of the last chunk). */
  pending?: Uint8Array;
  /** The last `read` it served, while it ends at `at`: a read a little before `at` is still served by it. */
  back?: { start: number; bytes: Uint8Array };
}

/**
 * Random access over Range requests whose bytes come from a current response, read as a stream: `read`
 * copies, `pipe` passes the response's own chunks on (sliced), so memory is that of a plain stream. A read
 * where the response is not costs a new request `bytes=p-` (to the end of the file) unless it lies a short
 * way ahead, which is read through. The response left behind is kept (unread, so the network holds it
 * back) until the one before it is needed again: a zip read as head, tail, then front to back costs two
 * requests and sends no byte twice. A reader going forward downloads each byte once, in one request.
 */
class HttpRangeCursor implements ByteCursor {
  readonly random = true;
  private pos = 0;
  /** The last `read` (any response's), so a read inside it (a zip's directory inside its tail) costs nothing. */
  private recent: { start: number; bytes: Uint8Array } | null = null;
  private parked: RangeBody | null = null;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly url: string,
    private readonly ctx: HttpContext,
    readonly size: number,
    private readonly skipBytes: number,
    private body: RangeBody | null,
  ) {}

  get position(): number {
    return this.pos;
  }

  private broke(e: unknown): Error {
    if (this.ctx.signal?.aborted) return abortError();
    return new ImageGPTError('E_NETWORK', `${clip(this.name)}: the download from ${clip(this.url)} failed or broke off (${describeCause(e)})`, { cause: e });
  }

  /** A new request for the bytes from `start` on. */
  private async open(start: number): Promise<RangeBody> {
    const asked = `bytes=${start}-`;
    const res = await httpGet(this.url, this.ctx, { Range: asked });
    if (!res) throw new ImageGPTError('E_NETWORK', `${clip(this.name)}: ${clip(this.url)} answered HTTP 404 to Range ${asked}, a file that answered before`);
    if (res.status !== 206) {
      cancelQuietly(res.body);
      throw new ImageGPTError('E_NETWORK', `${clip(this.name)}: asked ${clip(this.url)} for ${asked}, got HTTP ${res.status} instead of 206 (the server stopped honouring Range)`);
    }
    const header = res.headers.get('content-range');
    const range = parseContentRange(header);
    // `/*` (length unknown) is accepted: the first answer gave the length.
    if (!range || range.start !== start || range.end > this.size || (range.total !== undefined && range.total !== this.size) || !res.body) {
      cancelQuietly(res.body);
      throw new ImageGPTError('E_NETWORK', 
        `${this.name}: asked ${this.url} for ${asked} of ${this.size} bytes, the server answered ` +
          (header === null ? 'with no readable Content-Range' : `Content-Range ${quote(header)}`),
      );
    }
    return { reader: res.body.getReader(), at: start, end: range.end };
  }

  private drop(body: RangeBody | null): void {
    if (!body) return;
    if (this.body === body) this.body = null;
    if (this.parked === body) this.parked = null;
    // Not awaited: a response a fetch wrapper cloned settles its cancel only once the clone is read too.
    cancelQuietly(body.reader);
  }

  /** Whether `body` gives byte `at` next, or a short way on, or (its last read) just gave it. */
  private serves(body: RangeBody | null, at: number): body is RangeBody {
    if (!body || at >= body.end) return false;
    if (at >= body.at) return at - body.at <= this.skipBytes;
    const back = body.back;
    return back !== undefined && back.start + back.bytes.length === body.at && at >= back.start;
  }

  /** The response that gives byte `at`: the current one, the parked one, or a new one. */
  private async bodyAt(at: number): Promise<RangeBody> {
    if (this.closed) throw new ImageGPTError('E_INTERNAL', `${this.name}: read after the cursor was closed`);
    if (this.serves(this.body, at)) return this.body;
    const parked = this.parked;
    if (this.serves(parked, at)) {
      this.parked = this.body;
      this.body = parked;
      // A response kept waiting may have been closed by the server meanwhile: then a new request instead.
      if (parked.pending?.length || (await this.fill(parked))) return parked;
      this.drop(parked);
    } else {
      this.drop(this.parked);
      this.parked = this.body;
    }
    this.body = await this.open(at);
    return this.body;
  }

  /** Reads the next chunk of a resumed response; false (not an error) when it failed or ended. */
  private async fill(body: RangeBody): Promise<boolean> {
    try {
      const r = await raceAbort(body.reader.read(), this.ctx.signal);
      if (r.done || !(r.value instanceof Uint8Array) || r.value.length === 0) return false;
      body.pending = r.value;
      return true;
    } catch {
      throwIfAborted(this.ctx.signal);
      return false;
    }
  }

  /** The next bytes of `body`, at most `max` (never empty); a response ending short of its range is an error. */
  private async next(body: RangeBody, max: number): Promise<Uint8Array> {
    let chunk = body.pending;
    while (!chunk || chunk.length === 0) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await raceAbort(body.reader.read(), this.ctx.signal);
      } catch (e) {
        this.drop(body);
        throw this.broke(e);
      }
      if (r.done) {
        this.drop(body);
        throw this.broke(`the response ended at byte ${body.at}, its Content-Range goes to byte ${body.end}`);
      }
      if (!(r.value instanceof Uint8Array)) throw new ImageGPTError('E_NETWORK', `${clip(this.name)}: the response from ${clip(this.url)} gave ${typeof r.value}, expected Uint8Array chunks`);
      chunk = r.value;
    }
    if (chunk.length > body.end - body.at) {
      this.drop(body);
      throw new ImageGPTError('E_NETWORK', `${clip(this.name)}: the response from ${clip(this.url)} runs past byte ${body.end}, where its Content-Range ends`);
    }
    const n = Math.min(max, chunk.length);
    body.pending = chunk.subarray(n);
    body.at += n;
    // A response read to its end is let go at once (not at the next jump).
    if (body.at === body.end) this.drop(body);
    return n === chunk.length ? chunk : chunk.subarray(0, n);
  }

  /** Moves `length` bytes from the position on, in the responses' own pieces. */
  private async take(length: number, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    let left = length;
    while (left > 0) {
      const body = await this.bodyAt(this.pos);
      let chunk: Uint8Array;
      if (this.pos < body.at) {
        const back = body.back!; // serves() checked it ends at body.at
        chunk = back.bytes.subarray(this.pos - back.start, Math.min(body.at, this.pos + left) - back.start);
      } else {
        while (body.at < this.pos) await this.next(body, this.pos - body.at);
        chunk = await this.next(body, Math.min(left, body.end - body.at));
      }
      this.pos += chunk.length;
      left -= chunk.length;
      onChunk(chunk);
    }
  }

  private checkRead(length: number, what: string): void {
    checkLength(this.name, length, what);
    if (this.closed) throw new ImageGPTError('E_INTERNAL', `${this.name}: read after the cursor was closed`);
    throwIfAborted(this.ctx.signal);
    if (this.pos + length > this.size) throw endedEarly(this.name, this.pos, length, this.size);
  }

  async read(length: number): Promise<Uint8Array> {
    this.checkRead(length, 'a read');
    const start = this.pos;
    const recent = this.recent;
    if (recent && start >= recent.start && start + length <= recent.start + recent.bytes.length) {
      this.pos += length;
      return recent.bytes.slice(start - recent.start, start - recent.start + length);
    }
    const out = new Uint8Array(length);
    let done = 0;
    await this.take(length, (chunk) => {
      out.set(chunk, done);
      done += chunk.length;
    });
    if (length > 0 && length <= RECENT_BYTES) {
      this.recent = { start, bytes: out.slice() };
      if (this.body?.at === this.pos) this.body.back = this.recent;
    }
    return out;
  }

  async pipe(length: number, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    this.checkRead(length, 'a pipe');
    await this.take(length, onChunk);
  }

  async seek(offset: number): Promise<void> {
    checkLength(this.name, offset, 'a seek to an offset');
    if (offset > this.size) throw new ImageGPTError('E_BAD_FILE', `${this.name}: seek to byte ${offset}, past the end of the file (${this.size} bytes)`);
    this.pos = offset; // the response moves at the next read: consecutive seeks cost nothing
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.recent = null;
    this.drop(this.parked);
    this.drop(this.body);
  }
}
