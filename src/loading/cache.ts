// The model cache: Cache Storage by default where the runtime has it, keyed by resolved URL. A weight file
// missing from the cache is downloaded once and its body split in two: one branch is parsed, the other is
// handed to `cache.put` through a guard that errors (so the put never completes) when the download fails,
// is aborted, the parse fails, or the length differs from Content-Length. Partial files never enter.
//
// A cache is best-effort: it is the caller's code (or a browser store that may be refused), so every call
// into it is guarded. A match or put that throws, rejects or answers something else is skipped with a
// warning; a match that does not answer within CACHE_TIMEOUTS.match turns the cache off for the load; a put
// still running when the load is done is waited for only while it keeps reading its body. Every wait is
// raced against the load's signal.
import type { ModelCache } from './types';
import { clip } from '../json';
import { abortError, callerPromise, cancelQuietly, contentLength, describeCause, isResponse, raceAbort } from './http';
import { ImageGPTError } from '../errors';

/** The Cache Storage cache the library uses by default. */
export const CACHE_NAME = 'imagegpt-webgpu';

/** How long a cache may take (milliseconds) before it is skipped. */
export interface CacheTimeouts {
  /** A `match` (or opening Cache Storage) that has not answered by then: the load goes on without the cache. */
  match: number;
  /** A `put` still pending when the load is done is waited for while it reads its body, until it pauses this long. */
  putIdle: number;
}

export const CACHE_TIMEOUTS: Readonly<CacheTimeouts> = { match: 10_000, putIdle: 2_000 };

/** What a cache needs of the load: its signal, where warnings go, and its timeouts. */
export interface CacheContext {
  signal?: AbortSignal;
  warn: (message: string) => void;
  timeouts?: Partial<CacheTimeouts>;
}

/** Settles as `work` does, or with `onTimeout()` after `ms` (rejects with abortError when `signal` aborts first). */
function withTimeout<T>(work: Promise<T>, ms: number, signal: AbortSignal | undefined, onTimeout: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
  });
  return raceAbort(Promise.race([work, timeout]), signal).finally(() => clearTimeout(timer));
}

const TIMED_OUT = Symbol('timed out');

/**
 * `cache` option → the cache to use, or null for none. The default (Cache Storage) may be refused
 * (`SecurityError` in a sandboxed frame or with site data blocked): the load then goes on without a cache.
 */
export async function resolveCache(option: ModelCache | false | undefined, ctx: CacheContext): Promise<BestEffortCache | null> {
  if (option === false) return null;
  if (option !== undefined) {
    if (typeof option !== 'object' || option === null || typeof option.match !== 'function' || typeof option.put !== 'function') {
      throw new ImageGPTError('E_BAD_INPUT', 'options.cache must be false or an object with match(url) and put(url, response)');
    }
    return new BestEffortCache(option, 'options.cache', ctx);
  }
  const what = `Cache Storage ('${CACHE_NAME}')`;
  let cache: Cache | typeof TIMED_OUT;
  try {
    // Reading `caches` itself throws SecurityError in an opaque origin.
    const storage = (globalThis as { caches?: CacheStorage }).caches;
    if (!storage) return null;
    const ms = ctx.timeouts?.match ?? CACHE_TIMEOUTS.match;
    cache = await withTimeout<Cache | typeof TIMED_OUT>(callerPromise(() => storage.open(CACHE_NAME)), ms, ctx.signal, () => TIMED_OUT);
    if (cache === TIMED_OUT) {
      ctx.warn(`${what} did not open within ${ms} ms; loading without a cache`);
      return null;
    }
  } catch (e) {
    if (ctx.signal?.aborted) throw abortError();
    ctx.warn(`${what} is not available (${describeCause(e)}); loading without a cache`);
    return null;
  }
  const store = cache;
  return new BestEffortCache({ match: (url) => store.match(url), put: (url, response) => store.put(url, response) }, what, ctx);
}

/** A cached "this file does not exist" (kept only after a load succeeded, so a fixed repo is seen). */
export function missingResponse(): Response {
  return new Response(null, { status: 404, headers: { 'x-imagegpt-missing': '1' } });
}

export function isMissing(res: Response): boolean {
  return res.status === 404;
}

/** A response body split for parsing and for the cache. */
export interface CacheTee {
  /** The branch to parse. */
  body: ReadableStream<Uint8Array>;
  /** Keeps the file out of the cache (the parse failed or the load was aborted). */
  fail(reason: unknown): void;
  /** The file was parsed whole: the put may complete once every byte arrived. */
  succeed(): void;
}

/** A put in flight: settles when the caller's put does (never rejects); `active` is when it last read its body. */
interface PendingPut {
  url: string;
  done: Promise<void>;
  settled: boolean;
  active(): number;
}

/** A caller's cache (or Cache Storage) behind guards: never throws but AbortError, never hangs past a signal or a timeout. */
export class BestEffortCache {
  private off = false;
  private readonly pending: PendingPut[] = [];
  private readonly timeouts: CacheTimeouts;

  constructor(
    private readonly cache: ModelCache,
    private readonly what: string,
    private readonly ctx: CacheContext,
  ) {
    this.timeouts = { ...CACHE_TIMEOUTS, ...ctx.timeouts };
  }

  private skip(problem: string): void {
    this.off = true;
    this.ctx.warn(`${this.what}: ${problem}; loading without the cache`);
  }

  /** The cached response, or undefined (a miss, or the cache failed and is now off). Rejects only with AbortError. */
  async match(url: string): Promise<Response | undefined> {
    if (this.off) return undefined;
    const ms = this.timeouts.match;
    let hit: unknown;
    try {
      hit = await withTimeout<unknown>(callerPromise(() => this.cache.match(url)), ms, this.ctx.signal, () => TIMED_OUT);
    } catch (e) {
      if (this.ctx.signal?.aborted) throw abortError();
      this.skip(`match(${url}) failed (${describeCause(e)})`);
      return undefined;
    }
    if (hit === TIMED_OUT) {
      this.skip(`match(${url}) did not answer within ${ms} ms`);
      return undefined;
    }
    if (hit === undefined || hit === null) return undefined;
    if (!isResponse(hit)) {
      this.skip(`match(${url}) gave ${typeof hit}, expected a Response or undefined`);
      return undefined;
    }
    return hit;
  }

  /** The load failed: puts still running are left to fail (their branches error) without warnings. */
  abandon(): void {
    this.off = true;
  }

  /** The cache failed while its response was being read: off for the rest of the load. */
  failedRead(url: string, e: unknown): void {
    if (!this.off) this.skip(`the cached response for ${url} could not be read (${describeCause(e)})`);
  }

  /** Starts a put; its outcome is waited for by settle(), a failure only warned about. */
  private start(url: string, response: Response, active: () => number, onFail?: () => void, onDone?: () => void): void {
    if (this.off) {
      onFail?.();
      return;
    }
    const put: PendingPut = { url, done: Promise.resolve(), settled: false, active };
    put.done = callerPromise(() => this.cache.put(url, response)).then(
      () => {
        put.settled = true;
        onDone?.();
      },
      (e: unknown) => {
        put.settled = true;
        onFail?.();
        if (!this.off) this.ctx.warn(`${this.what}: put(${clip(url)}) failed (${describeCause(e)}); the file is not cached`);
      },
    );
    this.pending.push(put);
  }

  /** Stores a small response (JSON, a "missing" marker) without waiting for it. */
  put(url: string, response: Response): void {
    const started = Date.now();
    this.start(url, response, () => started);
  }

  /** Splits `res`'s body: one branch returned for parsing, the other put in the cache under `url` once whole. */
  tee(res: Response, url: string): CacheTee {
    if (!res.body) throw new ImageGPTError('E_NETWORK', `${clip(url)}: the response has no body to cache`);
    const total = contentLength(res);
    const [parse, store] = res.body.tee();
    const reader = store.getReader();
    let received = 0;
    let failed: unknown = null;
    let closed = false;
    let active = Date.now();
    let controllerRef: ReadableStreamDefaultController<Uint8Array> | null = null;
    // The put completes only after the parse succeeded too: a complete but unreadable file stays out.
    let parsedDone = false;
    let succeed: () => void = () => {};
    const parsed = new Promise<void>((resolve) => {
      succeed = () => {
        // A put waiting at the end is still making progress: its wait restarts now.
        if (!parsedDone && received > 0) active = Date.now();
        parsedDone = true;
        resolve();
      };
    });
    const guarded = new ReadableStream<Uint8Array>({
      start(controller) {
        controllerRef = controller;
      },
      async pull(controller) {
        active = Date.now();
        if (failed !== null) return;
        const { done, value } = await reader.read();
        active = Date.now();
        if (failed !== null) return;
        if (done) {
          if (total !== undefined && received !== total) {
            controller.error(new ImageGPTError('E_NETWORK', `${clip(url)}: got ${received} bytes, Content-Length says ${total}; not cached`));
          } else {
            await parsed;
            if (failed === null) {
              controller.close();
              closed = true;
            }
          }
          return;
        }
        received += value.length;
        if (total !== undefined && received > total) {
          controller.error(new ImageGPTError('E_NETWORK', `${clip(url)}: more than the ${total} bytes Content-Length says; not cached`));
          cancelQuietly(reader);
          return;
        }
        controller.enqueue(value);
      },
      cancel(reason) {
        cancelQuietly(reader, reason);
      },
    });
    // The reasons made here only stop the cache's own branch (the caller's put sees them); they never reach the load's caller.
    const fail = (reason: unknown) => {
      if (failed !== null) return;
      failed = reason ?? new ImageGPTError('E_INTERNAL', 'failed');
      succeed(); // releases a pull waiting at the end, which then sees `failed`
      try {
        controllerRef?.error(failed);
      } catch {
        // already closed or errored
      }
      // The branch nobody reads would otherwise keep every byte of the download.
      cancelQuietly(reader, failed);
    };
    const headers = new Headers();
    for (const h of ['content-type', 'content-length', 'etag', 'last-modified']) {
      const v = res.headers.get(h);
      if (v !== null && !(h === 'content-length' && total === undefined)) headers.set(h, v);
    }
    // A put that fails (at once or later) no longer reads its branch: it is cancelled.
    // A put that resolves before reading the whole body will not read it (Cache Storage resolves once it
    // stored it): the branch is cancelled, or it would hold every byte of the download in memory.
    const resolvedEarly = () => {
      if (closed || failed !== null) return;
      fail(new ImageGPTError('E_INTERNAL', 'the put resolved before reading the body'));
      if (!this.off) this.ctx.warn(`${this.what}: put(${clip(url)}) resolved before reading the file's body; the file is not cached`);
    };
    this.start(url, new Response(guarded, { status: 200, headers }), () => active, () => fail(new ImageGPTError('E_INTERNAL', 'the put failed')), resolvedEarly);
    return { body: parse, fail, succeed };
  }

  /**
   * After a successful load: waits for the puts still running, each while it keeps reading its body (a put
   * that keeps the response for later, or never settles, is left to itself with a warning).
   */
  async settle(): Promise<void> {
    for (const put of this.pending) {
      while (!put.settled) {
        const idle = this.timeouts.putIdle - (Date.now() - put.active());
        if (idle <= 0) {
          this.ctx.warn(`${this.what}: put(${clip(put.url)}) has not finished and has not read its body for ${this.timeouts.putIdle} ms; not waiting for it (the file may not be cached)`);
          break;
        }
        const settled = await withTimeout(put.done.then(() => true), idle, this.ctx.signal, () => false);
        if (settled) break;
      }
    }
    this.pending.length = 0;
  }
}
