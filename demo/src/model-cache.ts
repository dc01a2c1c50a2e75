// Model files kept in the Cache Storage: a model fetched once opens from there next time, offline too.
// Keys are the file's URL plus the model's version (shipped models change while they are developed).

const CACHE_NAME = 'imagegpt-models-v1';
const VERSION_PARAM = 'imagegpt-cache-version';

function cacheKey(url: string, version: string | undefined): string {
  if (!version) return url;
  const key = new URL(url);
  key.searchParams.set(VERSION_PARAM, version);
  return key.href;
}

function withoutVersion(url: string): string {
  const u = new URL(url);
  u.searchParams.delete(VERSION_PARAM);
  return u.href;
}

/**
 * The response for `url`, from the cache when it holds this version, else from the network (stored on the
 * way through, and other versions of the same file dropped). Without Cache Storage it is a plain fetch.
 */
export async function cachedFetch(url: string, version: string | undefined, init?: RequestInit): Promise<{ response: Response; cached: boolean }> {
  if (typeof caches === 'undefined') return { response: await fetch(url, init), cached: false };
  const cache = await caches.open(CACHE_NAME);
  const key = cacheKey(url, version);
  const hit = await cache.match(key);
  if (hit) return { response: hit, cached: true };
  const response = await fetch(url, init);
  if (response.ok) {
    for (const old of await cache.keys()) {
      if (old.url !== key && withoutVersion(old.url) === url) await cache.delete(old);
    }
    // The page reads one branch of the body (with progress) while the cache stores the other.
    cache.put(key, response.clone()).catch((e: unknown) => {
      console.warn(`could not cache ${url}: ${e instanceof Error ? e.message : String(e)}`);
    });
  }
  return { response, cached: false };
}

export async function clearModelCache(): Promise<boolean> {
  return typeof caches !== 'undefined' && caches.delete(CACHE_NAME);
}
