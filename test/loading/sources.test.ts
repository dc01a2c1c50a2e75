// Sources (hub id, URL, bytes, local files), layouts and the cache, with a stub fetch and a sink that
// records what it is given (no GPU).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { openSource, isHubId, loadPreprocessorConfig } from '../../src/loading/sources';
import { readCheckpoint, parseShardIndex, type CheckpointSink } from '../../src/loading/layouts';
import type { LoadProgress, ModelCache, TensorInfo } from '../../src/loading/types';
import { parseSafetensors } from '../../src/safetensors';
import { FIXTURES } from '../helpers/fixtures';
import { chunkedStream } from './chunked';

const HUB = join(FIXTURES, 'hub');

function folder(name: string): Map<string, Uint8Array<ArrayBuffer>> {
  const m = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const f of readdirSync(join(HUB, name))) m.set(f, new Uint8Array(readFileSync(join(HUB, name, f))));
  return m;
}

/** A stub server: `${base}/${file}` from a folder, 404 otherwise; logs URLs; Range ignored (streams in odd chunks). */
function server(base: string, files: Map<string, Uint8Array>, opts: { cutAfter?: number } = {}) {
  const log: string[] = [];
  const f = (async (input: string | URL | Request) => {
    const url = String(input);
    log.push(url);
    const name = url.startsWith(base + '/') ? url.slice(base.length + 1) : null;
    const bytes = name === null ? undefined : files.get(name);
    if (!bytes) return new Response('Entry not found', { status: 404, headers: { 'X-Error-Code': 'EntryNotFound' } });
    let body = chunkedStream(bytes, [13, 1, 4093]);
    if (opts.cutAfter !== undefined && name?.endsWith('.safetensors')) {
      const cut = opts.cutAfter;
      let sent = 0;
      const reader = body.getReader();
      body = new ReadableStream<Uint8Array>({
        async pull(c) {
          const { done, value } = await reader.read();
          if (done || sent + value.length > cut) {
            c.error(new TypeError('connection reset'));
            return;
          }
          sent += value.length;
          c.enqueue(value);
        },
      });
    }
    return new Response(body, { status: 200, headers: { 'content-length': String(bytes.length) } });
  }) as typeof fetch;
  return { fetch: f, log };
}

class RecordingSink implements CheckpointSink {
  readonly files: string[] = [];
  readonly tensors = new Map<string, { info: TensorInfo; bytes: Uint8Array; at: number }>();
  expectLastFile(): void {}
  declare(file: string, tensors: readonly TensorInfo[]): void {
    this.files.push(file);
    for (const t of tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'F32' ? 4 : t.dtype === 'F64' ? 8 : 2);
      this.tensors.set(t.name, { info: t, bytes: new Uint8Array(n), at: 0 });
    }
  }
  data(name: string, byteOffset: number, bytes: Uint8Array): void {
    const t = this.tensors.get(name)!;
    expect(byteOffset).toBe(t.at);
    t.bytes.set(bytes, byteOffset);
    t.at += bytes.length;
  }
}

function memoryCache(): { cache: ModelCache; entries: Map<string, Uint8Array | 404>; puts: string[] } {
  const entries = new Map<string, Uint8Array | 404>();
  const puts: string[] = [];
  const cache: ModelCache = {
    async match(url) {
      const e = entries.get(url);
      if (e === undefined) return undefined;
      return e === 404 ? new Response(null, { status: 404 }) : new Response(e.slice(), { headers: { 'content-length': String(e.length) } });
    },
    async put(url, response) {
      puts.push(url);
      const body = new Uint8Array(await response.arrayBuffer()); // rejects when the guarded body errors
      entries.set(url, response.status === 404 ? 404 : body);
    },
  };
  return { cache, entries, puts };
}

const tinySafetensors = folder('safetensors').get('model.safetensors')!;
const tinyTensors = parseSafetensors(tinySafetensors).tensors;

/** Every weight of the tiny model, byte for byte (the sharded fixtures leave out the mask buffers). */
function expectTinyTensors(sink: RecordingSink): void {
  const mask = /attn\.(bias|masked_bias)$/;
  const weights = (names: Iterable<string>) => new Set([...names].filter((n) => !mask.test(n)));
  expect(weights(sink.tensors.keys())).toEqual(weights(tinyTensors.keys()));
  for (const [name, t] of tinyTensors) if (!mask.test(name)) expect(Buffer.compare(sink.tensors.get(name)!.bytes, t.data), name).toBe(0);
}

describe('hub ids and URLs', () => {
  it('tells hub ids from URLs', () => {
    for (const id of ['openai/imagegpt-small', 'gpt2', 'Org_1/model.v2']) expect(isHubId(id), id).toBe(true);
    for (const bad of ['org/name/extra', '.hidden/x', 'org/../x', 'a b', '', 'org/', '/x']) expect(isHubId(bad), bad).toBe(false);
  });

  it('a hub id resolves to ${host}/${id}/resolve/${revision}/${file}, revision encoded', async () => {
    const s = server('https://hub.test/org/tiny/resolve/v1.0%2Frc', folder('safetensors'));
    const files = await openSource('org/tiny', { fetch: s.fetch, host: 'https://hub.test/', revision: 'v1.0/rc', cache: false });
    expect(await files.json('config.json')).toMatchObject({ model_type: 'imagegpt' });
    expect(s.log).toEqual(['https://hub.test/org/tiny/resolve/v1.0%2Frc/config.json']);
    const d = server('https://huggingface.co/openai/x/resolve/main', folder('safetensors'));
    await (await openSource('openai/x', { fetch: d.fetch, cache: false })).json('config.json');
    expect(d.log).toEqual(['https://huggingface.co/openai/x/resolve/main/config.json']);
  });

  it("fetch is called with the global as `this` (a browser's fetch throws 'Illegal invocation' otherwise)", async () => {
    const s = server('https://hub.test/org/tiny/resolve/main', folder('safetensors'));
    // Like window.fetch: usable only when called on the global object.
    function strictFetch(this: unknown, input: string | URL | Request, init?: RequestInit): Promise<Response> {
      if (this !== globalThis) throw new TypeError("Failed to execute 'fetch' on 'Window': Illegal invocation");
      return s.fetch(input, init);
    }
    const saved = globalThis.fetch;
    globalThis.fetch = strictFetch as typeof fetch;
    try {
      const viaGlobal = await openSource('org/tiny', { host: 'https://hub.test', cache: false });
      expect(await viaGlobal.json('config.json')).toMatchObject({ model_type: 'imagegpt' });
    } finally {
      globalThis.fetch = saved;
    }
    const viaOption = await openSource('org/tiny', { fetch: strictFetch as typeof fetch, host: 'https://hub.test', cache: false });
    expect(await viaOption.json('config.json')).toMatchObject({ model_type: 'imagegpt' });
  });

  it('base URLs: schemes, /, ./, ../ and URL objects; a query string stays last', async () => {
    for (const [base, url] of [
      ['https://x.test/m/', 'https://x.test/m/config.json'],
      ['/m', '/m/config.json'],
      ['./m', './m/config.json'],
      ['../m', '../m/config.json'],
      ['https://x.test/m?rev=2', 'https://x.test/m/config.json?rev=2'],
    ]) {
      const log: string[] = [];
      const f = (async (u: string) => {
        log.push(String(u));
        return new Response('{}');
      }) as typeof fetch;
      await (await openSource(base, { fetch: f, cache: false })).json('config.json');
      expect(log).toEqual([url]);
    }
    const log: string[] = [];
    const f = (async (u: string) => (log.push(String(u)), new Response('{}'))) as typeof fetch;
    await (await openSource(new URL('https://x.test/a/b'), { fetch: f, cache: false })).json('config.json');
    expect(log).toEqual(['https://x.test/a/b/config.json']);
  });

  it('rejects what is neither', async () => {
    await expect(openSource('org/name/extra')).rejects.toThrow(/neither a hub id .* nor a URL/);
    await expect(openSource(42 as never)).rejects.toThrow(/source must be/);
  });

  it('JSON errors name the file', async () => {
    const s = server('/m', new Map([['config.json', new TextEncoder().encode('{ nope')]]));
    await expect((await openSource('/m', { fetch: s.fetch, cache: false })).json('config.json')).rejects.toThrow(/^config\.json \(.*\) is not valid JSON: /);
  });
});

describe('bytes and local files', () => {
  it('{ config, weights }: safetensors or a torch zip, told apart by content', async () => {
    const st = await openSource({ config: { a: 1 }, weights: tinySafetensors });
    expect(await st.json('config.json')).toEqual({ a: 1 });
    expect(await st.open('pytorch_model.bin', true)).toBeNull();
    expect((await st.open('model.safetensors', true))?.cursor.size).toBe(tinySafetensors.length);
    const bin = folder('bin').get('pytorch_model.bin')!;
    const pt = await openSource({ config: {}, weights: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length) as ArrayBuffer });
    expect(await pt.open('model.safetensors', true)).toBeNull();
    expect((await pt.open('pytorch_model.bin', true))?.cursor.size).toBe(bin.length);
    await expect(openSource({ config: {}, weights: 'x' } as never)).rejects.toThrow(/weights must be the bytes/);
  });

  it('File[] from a folder picker: the folder prefix of webkitRelativePath goes, names match exactly', async () => {
    const files = [...folder('safetensors')].map(([name, bytes]) => {
      const f = new File([bytes], name);
      Object.defineProperty(f, 'webkitRelativePath', { value: `picked/${name}` });
      return f;
    });
    const extra = new File(['{}'], 'config.json');
    Object.defineProperty(extra, 'webkitRelativePath', { value: 'picked/sub/config.json' });
    const src = await openSource([...files, extra]);
    expect(await src.json('config.json')).toMatchObject({ model_type: 'imagegpt' });
    expect(await src.json('Config.json')).toBeNull();
    const sink = new RecordingSink();
    await readCheckpoint(src, sink, undefined);
    expectTinyTensors(sink);
    await expect(openSource([new File(['a'], 'x'), new File(['b'], 'x')])).rejects.toThrow(/two files named "x"/);
  });

  it('Map<string, Blob> of a sharded checkpoint', async () => {
    const map = new Map([...folder('safetensors-sharded')].map(([n, b]) => [n, new Blob([b])]));
    const sink = new RecordingSink();
    const found = await readCheckpoint(await openSource(map), sink, undefined);
    expect(found.layout).toBe('model.safetensors.index.json');
    expect(sink.files).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    expectTinyTensors(sink);
  });

  it('preprocessor_config.json from any source; { config, weights } needs `preprocessor`', async () => {
    const map = new Map([...folder('safetensors')].map(([n, b]) => [n, new Blob([b])]));
    expect((await loadPreprocessorConfig(map)).config).toHaveProperty('clusters');
    await expect(loadPreprocessorConfig({ config: {}, weights: tinySafetensors })).rejects.toThrow(/preprocessor/);
    expect((await loadPreprocessorConfig({ config: {}, weights: tinySafetensors, preprocessor: { size: 3 } } as never)).config).toEqual({ size: 3 });
  });
});

describe('layouts', () => {
  it("HF's order: model.safetensors first, then its index, then .bin; none → an error naming the four files", async () => {
    const s = server('/m', folder('safetensors-sharded'));
    const sink = new RecordingSink();
    await readCheckpoint(await openSource('/m', { fetch: s.fetch, cache: false }), sink, undefined);
    expect(s.log.slice(0, 2)).toEqual(['/m/model.safetensors', '/m/model.safetensors.index.json']);
    expectTinyTensors(sink);

    const empty = server('/e', new Map([['config.json', new Uint8Array([123, 125])]]));
    await expect(readCheckpoint(await openSource('/e', { fetch: empty.fetch, cache: false }), new RecordingSink(), undefined)).rejects.toThrow(
      'no checkpoint found in /e: tried model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json',
    );
  });

  it('index files are validated: shard names are plain file names', () => {
    expect(parseShardIndex({ metadata: { total_size: 10 }, weight_map: { a: 'b.safetensors', c: 'a.safetensors', d: 'b.safetensors' } }, 'i.json', 'safetensors')).toEqual({
      totalSize: 10,
      shards: ['a.safetensors', 'b.safetensors'],
    });
    for (const bad of ['../x.safetensors', 'sub/x.safetensors', 'x.bin', '']) {
      expect(() => parseShardIndex({ weight_map: { a: bad } }, 'i.json', 'safetensors'), bad).toThrow(/i\.json: weight_map\["a"\]/);
    }
    expect(() => parseShardIndex({ weight_map: { a: 3 } }, 'i.json', 'safetensors')).toThrow(/must be a file name/);
    expect(() => parseShardIndex({}, 'i.json', 'safetensors')).toThrow(/weight_map/);
    expect(() => parseShardIndex({ weight_map: { a: 'a.bin' }, metadata: { total_size: 'x' } }, 'i.json', 'bin')).toThrow(/total_size/);
  });

  it('a shard listed but missing is an error naming it', async () => {
    const files = folder('safetensors-sharded');
    files.delete('model-00002-of-00003.safetensors');
    const s = server('/m', files);
    await expect(readCheckpoint(await openSource('/m', { fetch: s.fetch, cache: false }), new RecordingSink(), undefined)).rejects.toThrow(
      /model\.safetensors\.index\.json lists "model-00002-of-00003\.safetensors", which was not found/,
    );
  });
});

describe('progress', () => {
  it('per file and phase: its first bytes, then at most one event per MiB or 200 ms, the last at the file\'s end; overall ends whole', async () => {
    const files = folder('safetensors-sharded');
    const s = server('/m', files);
    const events: LoadProgress[] = [];
    const started = Date.now();
    await readCheckpoint(await openSource('/m', { fetch: s.fetch, cache: false }), new RecordingSink(), (p) => events.push(structuredClone(p)));
    const shards = [...files.keys()].filter((f) => f.endsWith('.safetensors'));
    for (const phase of ['download', 'upload'] as const) {
      for (const f of shards) {
        const mine = events.filter((e) => e.phase === phase && e.file === f);
        expect(mine.length, `${phase} ${f}`).toBeGreaterThan(0);
        const timed = Math.ceil((Date.now() - started) / 200);
        expect(mine.length).toBeLessThanOrEqual(Math.ceil(files.get(f)!.length / (1 << 20)) + 2 + timed);
        // The first bytes are reported, not only the end (an upload's first piece may be a whole one-tensor shard).
        if (phase === 'download') expect(mine[0].loaded).toBeLessThan(mine[0].total!);
        const last = mine[mine.length - 1];
        expect(last.loaded).toBe(last.total);
        if (phase === 'download') expect(last.total).toBe(files.get(f)!.length);
      }
      const end = events.filter((e) => e.phase === phase).pop()!.overall;
      // A sharded download's overall total is unknown (shard sizes come as each opens); the upload's is the index's total_size.
      if (phase === 'download') expect(end).toEqual({ loaded: shards.reduce((n, f) => n + files.get(f)!.length, 0), total: undefined });
      else expect(end).toEqual({ loaded: 92672, total: 92672 });
    }
    expect(events.some((e) => e.phase === 'cached')).toBe(false);
  });
});

describe('progress from bytes and local files (phase cached)', () => {
  /** loaded ≤ total throughout, the last event of each file at its size, overall.total one value throughout. */
  function checkCached(events: LoadProgress[], sizes: Map<string, number>, overallTotal: number | undefined): void {
    const cached = events.filter((e) => e.phase === 'cached');
    expect(new Set(cached.map((e) => e.file))).toEqual(new Set(sizes.keys()));
    for (const e of cached) {
      expect(e.loaded).toBeLessThanOrEqual(e.total!);
      expect(e.overall.total).toBe(overallTotal);
      if (overallTotal !== undefined) expect(e.overall.loaded).toBeLessThanOrEqual(overallTotal);
    }
    for (const [file, size] of sizes) {
      const last = cached.filter((e) => e.file === file).pop()!;
      expect([last.loaded, last.total], file).toEqual([size, size]);
    }
    const end = cached[cached.length - 1].overall;
    expect(end.loaded).toBe([...sizes.values()].reduce((a, b) => a + b, 0));
  }

  it('a pytorch_model.bin in memory (its head and tail read twice, counted once): at most 100 %, ending at its size', async () => {
    const bin = folder('bin').get('pytorch_model.bin')!;
    const events: LoadProgress[] = [];
    await readCheckpoint(await openSource({ config: {}, weights: bin }), new RecordingSink(), (p) => events.push(structuredClone(p)));
    checkCached(events, new Map([['pytorch_model.bin', bin.length]]), bin.length);
  });

  it('sharded local files: each shard to its size; the overall total unknown (undefined) from the first event', async () => {
    const files = folder('bin-sharded');
    const map = new Map([...files].map(([n, b]) => [n, new Blob([b])]));
    const events: LoadProgress[] = [];
    await readCheckpoint(await openSource(map), new RecordingSink(), (p) => events.push(structuredClone(p)));
    checkCached(events, new Map([...files].filter(([n]) => n.endsWith('.bin')).map(([n, b]) => [n, b.length])), undefined);
  });
});

describe('cache', () => {
  it('a miss downloads once and fills the cache; a hit makes no request at all (missing layouts remembered)', async () => {
    const { cache, entries } = memoryCache();
    const s = server('https://hub.test/o/m/resolve/main', folder('safetensors-sharded'));
    const opts = { fetch: s.fetch, host: 'https://hub.test', cache };
    const first = await openSource('o/m', opts);
    await first.json('config.json');
    await readCheckpoint(first, new RecordingSink(), undefined);
    await first.finish();
    expect(entries.get('https://hub.test/o/m/resolve/main/model-00002-of-00003.safetensors')).toEqual(folder('safetensors-sharded').get('model-00002-of-00003.safetensors'));
    expect(entries.get('https://hub.test/o/m/resolve/main/model.safetensors')).toBe(404);
    s.log.length = 0;
    const phases = new Set<string>();
    const second = await openSource('o/m', opts);
    await second.json('config.json');
    const sink = new RecordingSink();
    await readCheckpoint(second, sink, (p) => phases.add(p.phase));
    expect(s.log).toEqual([]);
    expect(phases).toEqual(new Set(['cached', 'upload']));
    expectTinyTensors(sink);
  });

  it('a download that breaks off never enters the cache', async () => {
    const { cache, entries } = memoryCache();
    const s = server('/m', folder('safetensors'), { cutAfter: 20_000 });
    const files = await openSource('/m', { fetch: s.fetch, cache });
    await expect(readCheckpoint(files, new RecordingSink(), undefined)).rejects.toThrow(
      'model.safetensors: the download from /m/model.safetensors failed or broke off (connection reset)',
    );
    files.fail(new Error('failed'));
    await new Promise((r) => setTimeout(r, 20));
    expect(entries.has('/m/model.safetensors')).toBe(false);
  });

  it('a complete download that does not parse never enters the cache', async () => {
    const { cache, entries } = memoryCache();
    const s = server('/m', new Map([['model.safetensors', tinySafetensors.slice(0, 5000)]]));
    const files = await openSource('/m', { fetch: s.fetch, cache });
    await expect(readCheckpoint(files, new RecordingSink(), undefined)).rejects.toThrow(/model\.safetensors/);
    files.fail(new Error('failed'));
    await new Promise((r) => setTimeout(r, 20));
    expect(entries.has('/m/model.safetensors')).toBe(false);
  });
});

/** Rejects with a clear message instead of hanging until Vitest's timeout. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('a best-effort cache: a failing, slow or odd cache never fails or stalls a load', () => {
  const files = folder('safetensors-sharded');
  /** What fromPretrained does with a source: config.json, the checkpoint, then finish (cache writes). */
  async function load(cache: ModelCache | undefined, opts: { signal?: AbortSignal; match?: number; putIdle?: number; fetch?: typeof fetch } = {}) {
    const s = server('https://hub.test/o/m/resolve/main', files);
    const warnings: string[] = [];
    const source = await openSource(
      'o/m',
      { fetch: opts.fetch ?? s.fetch, host: 'https://hub.test', cache, signal: opts.signal, onWarning: (m) => warnings.push(m) },
      { cacheTimeouts: { match: opts.match ?? 10_000, putIdle: opts.putIdle ?? 2000 } },
    );
    const sink = new RecordingSink();
    try {
      await source.json('config.json');
      await readCheckpoint(source, sink, undefined);
      await source.finish();
    } catch (e) {
      source.fail(e);
      throw e;
    }
    expectTinyTensors(sink);
    return { warnings, log: s.log };
  }
  const shard = 'https://hub.test/o/m/resolve/main/model-00001-of-00003.safetensors';

  it('(a) a put that rejects at once without reading the body: the load completes, warned about', async () => {
    const cache: ModelCache = { match: async () => undefined, put: () => Promise.reject(new Error('quota exceeded')) };
    const { warnings } = await within(load(cache), 5000, 'a load whose cache rejects puts');
    expect(warnings).toContain(`options.cache: put(${shard}) failed (quota exceeded); the file is not cached`);
  });

  it('(a) a put that keeps the response to read later: the load does not wait for it past putIdle', async () => {
    const kept: Response[] = [];
    const cache: ModelCache = { match: async () => undefined, put: async (_url, response) => void kept.push(response) };
    const started = Date.now();
    const { warnings } = await within(load(cache, { putIdle: 100 }), 5000, 'a load whose cache keeps responses');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(kept.length).toBe(6); // config.json, the index, the three shards and model.safetensors as missing
    // A put that resolved without reading a shard's body will not read it: the branch is cancelled (it would
    // hold the whole download), so a later read fails and the file is not cached.
    expect(warnings.filter((w) => w.endsWith("resolved before reading the file's body; the file is not cached")).length).toBe(3);
    expect(warnings).toContain(`options.cache: put(${shard}) resolved before reading the file's body; the file is not cached`);
    await expect(Promise.all(kept.map((r) => r.arrayBuffer()))).rejects.toThrow();
    const late: ModelCache = { match: async () => undefined, put: (_url, response) => new Promise(() => void kept.push(response)) };
    const second = await within(load(late, { putIdle: 100 }), 5000, 'a load whose puts never settle');
    expect(second.warnings.some((w) => w.startsWith(`options.cache: put(${shard}) has not finished and has not read its body for 100 ms`))).toBe(true);
  });

  it('(b) a match that never settles: abort ends the load at once; without a signal the cache is skipped after the timeout', async () => {
    const never: ModelCache = { match: () => new Promise(() => {}), put: () => new Promise(() => {}) };
    const controller = new AbortController();
    const aborted = load(never, { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    expect(((await within(aborted, 2000, 'an aborted load on a hung cache')) as Error).name).toBe('AbortError');
    const { warnings, log } = await within(load(never, { match: 50, putIdle: 50 }), 5000, 'a load on a hung cache');
    expect(warnings[0]).toBe('options.cache: match(https://hub.test/o/m/resolve/main/config.json) did not answer within 50 ms; loading without the cache');
    expect(warnings.length).toBe(1); // skipped for the rest of the load: one timeout, one warning
    expect(log).toContain(shard);
  });

  it('(b) a put that never settles while reading: abort still ends finish()', async () => {
    const reading: ModelCache = {
      match: async () => undefined,
      put: async (_url, response) => {
        const reader = response.body!.getReader();
        for (;;) if ((await reader.read()).done) break;
        await new Promise(() => {});
      },
    };
    const controller = new AbortController();
    const pending = load(reading, { signal: controller.signal, putIdle: 60_000 }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 300);
    expect(((await within(pending, 3000, 'finish() on a hung put after abort')) as Error).name).toBe('AbortError');
  });

  it('(c) a match or put that throws synchronously, or answers something else: skipped with a warning', async () => {
    const throwsPut: ModelCache = {
      match: async () => undefined,
      put: () => {
        throw new Error('read-only store');
      },
    };
    const a = await load(throwsPut);
    expect(a.warnings.filter((w) => w.includes('read-only store')).length).toBeGreaterThan(0);
    const throwsMatch: ModelCache = {
      match: () => {
        throw new Error('closed database');
      },
      put: async () => {},
    };
    const b = await load(throwsMatch);
    expect(b.warnings).toEqual(['options.cache: match(https://hub.test/o/m/resolve/main/config.json) failed (closed database); loading without the cache']);
    const odd = { match: async () => 'cached!', put: async () => {} } as unknown as ModelCache;
    expect((await load(odd)).warnings).toEqual(['options.cache: match(https://hub.test/o/m/resolve/main/config.json) gave string, expected a Response or undefined; loading without the cache']);
  });

  it('(d) a match returning stored.clone(): the cached load completes, with no request', async () => {
    const stored = new Map<string, Response>();
    const cloning: ModelCache = {
      match: async (url) => stored.get(url)?.clone(),
      put: async (url, response) => {
        const body = new Uint8Array(await response.arrayBuffer());
        stored.set(url, new Response(body, { status: response.status, headers: response.headers }));
      },
    };
    await load(cloning);
    const second = await within(load(cloning), 5000, 'a load from a cache of clones');
    expect(second.log).toEqual([]);
    expect(second.warnings).toEqual([]);
  });

  it('puts that finished while the load went on: no waiting, no warning, however long the load took', async () => {
    const { cache, entries } = memoryCache();
    const slow = server('https://hub.test/o/m/resolve/main', files);
    const delayed = (async (input: RequestInfo | URL, init?: RequestInit) => {
      await new Promise((r) => setTimeout(r, 20));
      return slow.fetch(input, init);
    }) as typeof fetch;
    // putIdle 5 ms: shorter than the load, so a finished put judged by its age alone would be warned about.
    const { warnings } = await load(cache, { putIdle: 5, fetch: delayed });
    expect(warnings).toEqual([]);
    expect(entries.has(shard)).toBe(true);
  });

  it('a cached body that cannot be read (config.json): downloaded instead, with a warning', async () => {
    const broken: ModelCache = {
      match: async () => new Response(new ReadableStream({ pull: (c) => c.error(new Error('disk error')) })),
      put: async () => {},
    };
    const { warnings, log } = await load(broken);
    expect(warnings[0]).toBe('options.cache: the cached response for https://hub.test/o/m/resolve/main/config.json could not be read (disk error); loading without the cache');
    expect(log[0]).toBe('https://hub.test/o/m/resolve/main/config.json');
  });
});

describe('Cache Storage refused (a sandboxed frame, site data blocked)', () => {
  const files = folder('safetensors');
  async function loadWith(caches: PropertyDescriptor) {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'caches');
    Object.defineProperty(globalThis, 'caches', { ...caches, configurable: true });
    try {
      const s = server('/m', files);
      const warnings: string[] = [];
      const source = await openSource('/m', { fetch: s.fetch, onWarning: (m) => warnings.push(m) }, { cacheTimeouts: { match: 50 } });
      await source.json('config.json');
      const sink = new RecordingSink();
      await readCheckpoint(source, sink, undefined);
      await source.finish();
      expectTinyTensors(sink);
      return warnings;
    } finally {
      if (saved) Object.defineProperty(globalThis, 'caches', saved);
      else delete (globalThis as { caches?: unknown }).caches;
    }
  }
  const securityError = () => new DOMException('The operation is insecure.', 'SecurityError');

  it('caches.open rejecting or throwing SecurityError, reading `caches` throwing, or open never answering: loads without caching', async () => {
    expect(await loadWith({ value: { open: () => Promise.reject(securityError()) } })).toEqual([
      "Cache Storage ('imagegpt-webgpu') is not available (The operation is insecure.); loading without a cache",
    ]);
    expect(await loadWith({ value: { open: () => { throw securityError(); } } })).toHaveLength(1);
    expect(await loadWith({ get: () => { throw securityError(); } })).toHaveLength(1);
    expect(await loadWith({ value: { open: () => new Promise(() => {}) } })).toEqual([
      "Cache Storage ('imagegpt-webgpu') did not open within 50 ms; loading without a cache",
    ]);
  });

  it('a working Cache Storage is used by default', async () => {
    const { cache, puts } = memoryCache();
    expect(await loadWith({ value: { open: async () => cache } })).toEqual([]);
    expect(puts).toContain('/m/model.safetensors');
  });
});

describe('callbacks are caller code', () => {
  it('onProgress that throws or returns a rejected promise: warned about once, the load goes on; onWarning that throws is ignored', async () => {
    const files = folder('safetensors');
    for (const onProgress of [
      () => {
        throw new Error('UI bug');
      },
      () => Promise.reject(new Error('UI bug')),
    ] as Array<(p: LoadProgress) => void>) {
      const warnings: string[] = [];
      const s = server('/m', files);
      const source = await openSource('/m', { fetch: s.fetch, cache: false });
      const sink = new RecordingSink();
      await readCheckpoint(source, sink, onProgress, (m) => warnings.push(m));
      await new Promise((r) => setTimeout(r, 0));
      expectTinyTensors(sink);
      expect(warnings).toEqual(['onProgress threw (UI bug); the load goes on']);
    }
    const s = server('/m', files);
    const source = await openSource('/m', { fetch: s.fetch, cache: { match: () => Promise.reject(new Error('x')), put: async () => {} }, onWarning: () => { throw new Error('bad'); } });
    expect(await source.json('config.json')).toMatchObject({ model_type: 'imagegpt' });
    await expect(openSource('/m', { onWarning: 'yes' as never })).rejects.toThrow('options.onWarning must be a function, got "yes"');
    await expect(openSource('/m', { signal: 5000 as never })).rejects.toThrow('options.signal must be an AbortSignal (e.g. AbortSignal.timeout(ms)), got 5000');
  });

  it('without onWarning, warnings go to console.warn', async () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const s = server('/m', folder('safetensors'));
      const source = await openSource('/m', { fetch: s.fetch, cache: { match: () => Promise.reject(new Error('x')), put: async () => {} } });
      await source.json('config.json');
      expect(spy).toHaveBeenCalledWith('imagegpt-webgpu: options.cache: match(/m/config.json) failed (x); loading without the cache');
    } finally {
      spy.mockRestore();
    }
  });
});
