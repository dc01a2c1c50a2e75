// The model cache: Cache Storage by default where the runtime has it, keyed by resolved URL. A weight file
// missing from the cache is downloaded once and its body split in two: one branch is parsed, the other is
// handed to `cache.put` through a guard that errors (so the put never completes) when the download fails,
// is aborted, the parse fails, or the length differs from Content-Length. Partial files never enter.
import type { ModelCache } from './types';
import { contentLength } from './http';

/** The Cache Storage cache the library uses by default. */
export const CACHE_NAME = 'imagegpt-webgpu';

/** `cache` option → the cache to use, or null for none. */
export async function resolveCache(option: ModelCache | false | undefined): Promise<ModelCache | null> {
  if (option === false) return null;
  if (option !== undefined) {
    if (typeof option !== 'object' || option === null || typeof option.match !== 'function' || typeof option.put !== 'function') {
      throw new Error('options.cache must be false or an object with match(url) and put(url, response)');
    }
    return option;
  }
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) return null;
  const cache = await storage.open(CACHE_NAME);
  return {
    match: (url) => cache.match(url),
    put: (url, response) => cache.put(url, response),
  };
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
  /** The put's outcome (never rejects: a cache that refuses a file does not fail the load). */
  done: Promise<void>;
}

/** Splits `res`'s body: one branch returned for parsing, the other put in `cache` under `url` once whole. */
export function teeIntoCache(res: Response, url: string, cache: ModelCache): CacheTee {
  if (!res.body) throw new Error(`${url}: the response has no body to cache`);
  const total = contentLength(res);
  const [parse, store] = res.body.tee();
  const reader = store.getReader();
  let received = 0;
  let failed: unknown = null;
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | null = null;
  // The put completes only after the parse succeeded too: a complete but unreadable file stays out.
  let succeed: () => void = () => {};
  const parsed = new Promise<void>((resolve) => {
    succeed = resolve;
  });
  const guarded = new ReadableStream<Uint8Array>({
    start(controller) {
      controllerRef = controller;
    },
    async pull(controller) {
      if (failed !== null) return;
      const { done, value } = await reader.read();
      if (failed !== null) return;
      if (done) {
        if (total !== undefined && received !== total) {
          controller.error(new Error(`${url}: got ${received} bytes, Content-Length says ${total}; not cached`));
        } else {
          await parsed;
          if (failed === null) controller.close();
        }
        return;
      }
      received += value.length;
      if (total !== undefined && received > total) {
        controller.error(new Error(`${url}: more than the ${total} bytes Content-Length says; not cached`));
        await reader.cancel().catch(() => {});
        return;
      }
      controller.enqueue(value);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  });
  const headers = new Headers();
  for (const h of ['content-type', 'content-length', 'etag', 'last-modified']) {
    const v = res.headers.get(h);
    if (v !== null && !(h === 'content-length' && total === undefined)) headers.set(h, v);
  }
  let done: Promise<void>;
  try {
    done = Promise.resolve(cache.put(url, new Response(guarded, { status: 200, headers }))).catch(() => {});
  } catch {
    done = Promise.resolve();
  }
  return {
    body: parse,
    fail(reason: unknown) {
      if (failed !== null) return;
      failed = reason ?? new Error('failed');
      succeed(); // releases a pull waiting at the end, which then sees `failed`
      try {
        controllerRef?.error(failed);
      } catch {
        // already closed or errored
      }
      reader.cancel(failed).catch(() => {});
    },
    succeed,
    done,
  };
}
