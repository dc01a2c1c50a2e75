// The demo's version-keyed cache for the shipped models, over an in-memory stand-in for Cache Storage.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clearModelCache, versionedCache, type FileCache } from '../../demo/src/model-cache';

/** Just what model-cache.ts uses of CacheStorage and Cache. */
function fakeCaches() {
  const stores = new Map<string, Map<string, Response>>();
  const open = async (name: string) => {
    if (!stores.has(name)) stores.set(name, new Map());
    const store = stores.get(name)!;
    return {
      match: async (key: string) => store.get(key)?.clone(),
      put: async (key: string, response: Response) => void store.set(key, response),
      keys: async () => [...store.keys()].map((url) => new Request(url)),
      delete: async (request: Request) => store.delete(request.url),
    };
  };
  return { stores, storage: { open, delete: async (name: string) => stores.delete(name) } };
}

/** The cache of a version, where Cache Storage exists. */
function at(version: string): FileCache {
  const cache = versionedCache(version);
  if (!cache) throw new Error('versionedCache gave no cache although caches is defined');
  return cache;
}

const URL_A = 'http://localhost:5173/models/emoji-16/model.safetensors';
let fake: ReturnType<typeof fakeCaches>;

beforeEach(() => {
  fake = fakeCaches();
  (globalThis as { caches?: unknown }).caches = fake.storage;
});
afterEach(() => {
  delete (globalThis as { caches?: unknown }).caches;
});

describe('versionedCache', () => {
  it('finds a file only at the version it was stored with', async () => {
    await at('v1').put(URL_A, new Response('one'));
    expect(await (await at('v1').match(URL_A))?.text()).toBe('one');
    expect(await at('v2').match(URL_A)).toBeUndefined();
  });

  it('a new version replaces the old entry of the same file, and leaves other files alone', async () => {
    const other = 'http://localhost:5173/models/emoji-16/config.json';
    const hub = 'https://huggingface.co/openai/imagegpt-small/resolve/main/pytorch_model.bin';
    await at('v1').put(URL_A, new Response('one'));
    await at('v1').put(other, new Response('{}'));
    await fake.storage.open('imagegpt-webgpu').then((c) => c.put(hub, new Response('hub')));
    await at('v2').put(URL_A, new Response('two'));
    const keys = [...fake.stores.get('imagegpt-webgpu')!.keys()];
    expect(keys.filter((k) => k.startsWith(URL_A))).toEqual([`${URL_A}?imagegpt-cache-version=v2`]);
    expect(keys).toContain(`${other}?imagegpt-cache-version=v1`);
    expect(keys).toContain(hub);
  });

  it('is no cache without Cache Storage', () => {
    delete (globalThis as { caches?: unknown }).caches;
    expect(versionedCache('v1')).toBe(false);
  });
});

describe('clearModelCache', () => {
  it('deletes the library cache and the old demo cache, and says whether anything was there', async () => {
    expect(await clearModelCache()).toBe(false);
    await fake.storage.open('imagegpt-models-v1');
    expect(await clearModelCache()).toBe(true);
    expect(fake.stores.size).toBe(0);
  });
});
