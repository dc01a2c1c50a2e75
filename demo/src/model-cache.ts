// The browser cache for model files. Hub models use the library's own cache (Cache Storage
// 'imagegpt-webgpu', keyed by URL: a hub file at a revision does not change). The shipped models are
// served from the page's own folder and change while they are developed, so their entries are keyed by
// URL plus the model's version: a changed model is downloaded again, never taken from a stale entry.

/** The library's default Cache Storage name (see FileOptions.cache in src/loading/types.ts). */
const LIBRARY_CACHE = 'imagegpt-webgpu';
/** What earlier versions of the demo cached under; deleted by Clear cache. */
const OLD_DEMO_CACHE = 'imagegpt-models-v1';
const VERSION_PARAM = 'imagegpt-cache-version';

/** The shape of the library's `cache` option. */
export interface FileCache {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
}

function versioned(url: string, version: string): string {
  const key = new URL(url);
  key.searchParams.set(VERSION_PARAM, version);
  return key.href;
}

function unversioned(url: string): string {
  const u = new URL(url);
  u.searchParams.delete(VERSION_PARAM);
  return u.href;
}

/**
 * A cache for one version of a shipped model, in the library's Cache Storage: `put` also drops the other
 * versions of the same file. `false` (no cache) where the page has no Cache Storage (not a secure context).
 */
export function versionedCache(version: string): FileCache | false {
  if (typeof caches === 'undefined') return false;
  return {
    async match(url) {
      const cache = await caches.open(LIBRARY_CACHE);
      return cache.match(versioned(url, version));
    },
    async put(url, response) {
      const cache = await caches.open(LIBRARY_CACHE);
      const key = versioned(url, version);
      for (const old of await cache.keys()) {
        if (old.url !== key && old.url.includes(VERSION_PARAM) && unversioned(old.url) === url) await cache.delete(old);
      }
      await cache.put(key, response);
    },
  };
}

/** Forgets every cached model file (hub and shipped); true when there was something to delete. */
export async function clearModelCache(): Promise<boolean> {
  if (typeof caches === 'undefined') return false;
  const deleted = await Promise.all([caches.delete(LIBRARY_CACHE), caches.delete(OLD_DEMO_CACHE)]);
  return deleted.some(Boolean);
}
