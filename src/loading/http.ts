// HTTP for the loader: GET with the hub's error codes turned into plain errors, and weight files opened
// either for random access (open-ended Range requests read as streams, a new one only where the reader
// jumps) or, when the server ignores Range, as the very response's stream (never downloaded twice).
import { checkLength, endedEarly, streamCursor } from './cursor';
import type { ByteCursor } from './types';
import { errorMessage } from '../json';

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
    throw new Error(`${url}: could not reach ${hostOf(url)} (${errorMessage(e)})`, { cause: e });
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


export interface OpenOptions {
  /** Try Range requests (random access). Without it: one plain GET, read as a stream. */
  range: boolean;
  /** Forward jumps up to this many bytes read through the current response instead of a new request (default 256 KiB). */
  skipBytes?: number;
}

/** A forward jump the current response reads through rather than being dropped for a new request. */
export const DEFAULT_SKIP_BYTES = 256 << 10;
/** A `read` up to this size is kept, so a read inside it (a zip's directory inside its tail) costs no request. */
const RECENT_BYTES = 128 << 10;

/**
 * Opens `url` as a ByteCursor, or null when it does not exist. With `range`, the first request asks for
 * `bytes=0-`: a 206 with a matching Content-Range gives random access, its body being the first stream
 * read; a 200 (Range ignored) is used as it is, as a forward-only stream.
 */
export async function openHttpFile(url: string, name: string, ctx: HttpContext, opts: OpenOptions): Promise<ByteCursor | null> {
  const res = await httpGet(url, ctx, opts.range ? { Range: 'bytes=0-' } : undefined);
  if (!res) return null;
  if (res.status === 206 && opts.range) {
    const header = res.headers.get('content-range');
    if (header === null) {
      // A cross-origin server that does not expose Content-Range: no random access; read it as one stream.
      await res.body?.cancel().catch(() => {});
      return openHttpFile(url, name, ctx, { ...opts, range: false });
    }
    const range = parseContentRange(header);
    if (!range || range.start !== 0 || range.end <= 0 || range.end > range.total || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`${url}: asked for bytes 0-, the server answered 206 with Content-Range ${JSON.stringify(header)}${res.body ? '' : ' and no body'}`);
    }
    return new HttpRangeCursor(name, url, ctx, range.total, opts.skipBytes ?? DEFAULT_SKIP_BYTES, { reader: res.body.getReader(), at: 0, end: range.end });
  }
  if (res.status === 206) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`${url}: HTTP 206 (partial content) to a request without Range`);
  }
  if (!res.body) return streamCursor(name, new Blob([await res.arrayBuffer()]).stream(), contentLength(res));
  return streamCursor(name, res.body, contentLength(res));
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
    return new Error(`${this.name}: the download from ${this.url} failed or broke off (${errorMessage(e)})`, { cause: e });
  }

  /** A new request for the bytes from `start` on. */
  private async open(start: number): Promise<RangeBody> {
    const asked = `bytes=${start}-`;
    const res = await httpGet(this.url, this.ctx, { Range: asked });
    if (!res) throw new Error(`${this.name}: ${this.url} answered HTTP 404 to Range ${asked}, a file that answered before`);
    if (res.status !== 206) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`${this.name}: asked ${this.url} for ${asked}, got HTTP ${res.status} instead of 206 (the server stopped honouring Range)`);
    }
    const header = res.headers.get('content-range');
    const range = parseContentRange(header);
    if (!range || range.start !== start || range.end <= start || range.end > this.size || range.total !== this.size || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`${this.name}: asked ${this.url} for ${asked} of ${this.size} bytes, the server answered Content-Range ${JSON.stringify(header)}`);
    }
    return { reader: res.body.getReader(), at: start, end: range.end };
  }

  private async drop(body: RangeBody | null): Promise<void> {
    if (!body) return;
    if (this.body === body) this.body = null;
    if (this.parked === body) this.parked = null;
    // Best effort: a response that already failed rejects cancel(); its error was (or is) reported elsewhere.
    await body.reader.cancel().catch(() => {});
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
    if (this.closed) throw new Error(`${this.name}: read after the cursor was closed`);
    if (this.serves(this.body, at)) return this.body;
    const parked = this.parked;
    if (this.serves(parked, at)) {
      this.parked = this.body;
      this.body = parked;
      // A response kept waiting may have been closed by the server meanwhile: then a new request instead.
      if (parked.pending?.length || (await this.fill(parked))) return parked;
      await this.drop(parked);
    } else {
      await this.drop(this.parked);
      this.parked = this.body;
    }
    this.body = await this.open(at);
    return this.body;
  }

  /** Reads the next chunk of a resumed response; false (not an error) when it failed or ended. */
  private async fill(body: RangeBody): Promise<boolean> {
    try {
      const r = await body.reader.read();
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
        r = await body.reader.read();
      } catch (e) {
        await this.drop(body);
        throw this.broke(e);
      }
      if (r.done) {
        await this.drop(body);
        throw this.broke(`the response ended at byte ${body.at}, its Content-Range goes to byte ${body.end}`);
      }
      if (!(r.value instanceof Uint8Array)) throw new Error(`${this.name}: the response from ${this.url} gave ${typeof r.value}, expected Uint8Array chunks`);
      chunk = r.value;
    }
    if (chunk.length > body.end - body.at) {
      await this.drop(body);
      throw new Error(`${this.name}: the response from ${this.url} runs past byte ${body.end}, where its Content-Range ends`);
    }
    const n = Math.min(max, chunk.length);
    body.pending = chunk.subarray(n);
    body.at += n;
    // A response read to its end is let go at once (not at the next jump).
    if (body.at === body.end) await this.drop(body);
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
    if (this.closed) throw new Error(`${this.name}: read after the cursor was closed`);
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
    if (offset > this.size) throw new Error(`${this.name}: seek to byte ${offset}, past the end of the file (${this.size} bytes)`);
    this.pos = offset; // the response moves at the next read: consecutive seeks cost nothing
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.recent = null;
    await this.drop(this.parked);
    await this.drop(this.body);
  }
}
