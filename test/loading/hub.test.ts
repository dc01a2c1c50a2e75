// End-to-end loading through the public API from a local server shaped like the Hugging Face hub
// (test/helpers/hub-server.mjs): every checkpoint layout, every kind of source, the hub's errors, Range and
// no-Range servers, abort, cache and progress. Fixtures: test/fixtures/hub (weights-tools/make_hub_fixtures.py),
// all the same weights as test/fixtures/torch/tiny-f32.bin, so all must give torch/logits.safetensors.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTestDevice, trackBuffers } from '../helpers/gpu';
import { FIXTURES, loadModelFixture, relError } from '../helpers/fixtures';
import { HUB_FIXTURES, parseRange, startHubServer, type HubRequest, type HubServer } from '../helpers/hub-server.mjs';
import { parseSafetensors, tensorToFloat32, writeSafetensors } from '../../src/safetensors';
import { ImageGPT, ImageGPTImageProcessor, errorCode } from '../../src/index';
import type { LoadProgress, ModelCache } from '../../src/loading/types';

const LAYOUTS = ['safetensors', 'safetensors-sharded', 'bin', 'bin-sharded'] as const;
type Layout = (typeof LAYOUTS)[number];
/** The file that tells each layout apart, in the order Hugging Face tries them (LAYOUTS is in that order). */
const LAYOUT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'];
const repoOf = (layout: string) => `test-org/tiny-${layout}`;
const folderOf = (layout: string) => join(HUB_FIXTURES, layout);
/** The weight files of a layout (everything but the JSON files). */
const weightFiles = (layout: string) => readdirSync(folderOf(layout)).filter((f) => !f.endsWith('.json')).sort();
const fileBytes = (layout: string, file: string) => new Uint8Array(readFileSync(join(folderOf(layout), file)));
const sizeOf = (layout: string, file: string) => statSync(join(folderOf(layout), file)).size;

const expected = (() => {
  const t = parseSafetensors(new Uint8Array(readFileSync(join(FIXTURES, 'torch', 'logits.safetensors')))).tensors;
  const ids = t.get('input_ids')!;
  const flat = Array.from(new Int32Array(ids.data.slice().buffer));
  const [B, T] = ids.shape;
  return { inputIds: Array.from({ length: B }, (_, b) => flat.slice(b * T, (b + 1) * T)), logits: tensorToFloat32(t.get('logits')!) };
})();
const TOL = { f32: 1e-4, f16: 2e-2 } as const;

/** Forward of the fixture's ids against the torch logits, then dispose. */
async function expectFixtureLogits(model: ImageGPT, dtype: 'f32' | 'f16' = 'f32'): Promise<void> {
  try {
    const { logits } = await model.forward(expected.inputIds);
    expect(relError(logits, expected.logits)).toBeLessThan(TOL[dtype]);
  } finally {
    model.dispose();
  }
}

/**
 * For loads whose bytes took a path another test already checked against the logits: the model loaded and
 * holds its weights. (Each model's first forward compiles every kernel: seconds on SwiftShader.)
 */
function expectLoaded(model: ImageGPT): void {
  try {
    expect(model.memory().weightBytes).toBeGreaterThan(0);
  } finally {
    model.dispose();
  }
}

/** Rejects with a clear message instead of hanging the file until Vitest's timeout. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const cdnGets = (log: readonly HubRequest[], file?: string) =>
  log.filter((e) => e.kind === 'cdn' && e.method === 'GET' && (file === undefined || e.file === file));

/**
 * Bytes [start, end) of the file a logged GET sent: from its range's start (206) or byte 0 (200), as many
 * as went out. An open-ended Range request dropped by the loader sends only part of what it asked for.
 */
function sent(e: HubRequest, size: number): [number, number] {
  if (e.status !== 206) return [0, e.bytes];
  const r = parseRange(e.range, size);
  if (!Array.isArray(r)) throw new Error(`206 for an unparsable range ${e.range}`);
  return [r[0], r[0] + e.bytes];
}

/** How many times the server sent each byte of the file. */
function coverage(log: readonly HubRequest[], file: string, size: number): Uint8Array {
  const count = new Uint8Array(size);
  for (const e of cdnGets(log, file)) {
    const [a, b] = sent(e, size);
    for (let i = a; i < b; i++) count[i]++;
  }
  return count;
}

/** [start, end) of every stored entry's data in a zip (a torch .bin): the tensor storages are `<root>/data/<n>`. */
function zipStorages(bytes: Uint8Array): Array<[number, number]> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = bytes.length - 22;
  while (eocd >= 0 && v.getUint32(eocd, true) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('zipStorages: no end of central directory');
  const count = v.getUint16(eocd + 10, true);
  let at = v.getUint32(eocd + 16, true);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const size = v.getUint32(at + 20, true);
    const nameLen = v.getUint16(at + 28, true);
    const skip = nameLen + v.getUint16(at + 30, true) + v.getUint16(at + 32, true);
    const local = v.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLen));
    const start = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    if (/\/data\/\d+$/.test(name)) out.push([start, start + size]);
    at += 46 + skip;
  }
  return out;
}

/** The body of `file` that carries byte `offset`: a plan sending up to just before it. */
function atOffset(file: string, offset: number, plan: 'stallAfter' | 'cutAfter', onStall?: () => void) {
  return (r: { file: string; start: number; end: number }) =>
    r.file === file && r.start <= offset && offset < r.end ? { [plan]: offset - r.start, onStall } : undefined;
}

/** A safetensors checkpoint of an ImageGPT with `n_embd` E and `n_layer` L (n_positions 64), zeros. */
function largeCheckpoint(E: number, L: number): Uint8Array {
  const shapes: Array<[string, number[]]> = [['transformer.wte.weight', [513, E]], ['transformer.wpe.weight', [64, E]]];
  for (let i = 0; i < L; i++) {
    const p = `transformer.h.${i}.`;
    shapes.push([p + 'ln_1.weight', [E]], [p + 'attn.c_attn.weight', [E, 3 * E]], [p + 'attn.c_attn.bias', [3 * E]],
      [p + 'attn.c_proj.weight', [E, E]], [p + 'attn.c_proj.bias', [E]], [p + 'ln_2.weight', [E]],
      [p + 'mlp.c_fc.weight', [E, 4 * E]], [p + 'mlp.c_fc.bias', [4 * E]], [p + 'mlp.c_proj.weight', [4 * E, E]], [p + 'mlp.c_proj.bias', [E]]);
  }
  shapes.push(['transformer.ln_f.weight', [E]], ['lm_head.weight', [512, E]]);
  return writeSafetensors(shapes.map(([name, shape]) => ({ name, dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) })));
}

/** An in-memory ModelCache that stores a response only once its whole body arrived (as Cache Storage does). */
function memoryCache() {
  const entries = new Map<string, { status: number; headers: [string, string][]; body: Uint8Array<ArrayBuffer> | null }>();
  const cache: ModelCache = {
    async match(url) {
      const e = entries.get(url);
      return e ? new Response(e.body, { status: e.status, headers: e.headers }) : undefined;
    },
    async put(url, response) {
      const body = response.body ? new Uint8Array(await response.arrayBuffer()) : null;
      entries.set(url, { status: response.status, headers: [...response.headers], body });
    },
  };
  return { cache, entries };
}

describe('the hub-shaped test server', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
  });
  afterAll(() => hub?.close());

  it('redirects weight files to a CDN path that honours Range; answers the hub error codes', async () => {
    const url = hub.fileUrl(repoOf('bin'), 'pytorch_model.bin');
    const size = sizeOf('bin', 'pytorch_model.bin');
    const open = await fetch(url, { headers: { Range: 'bytes=10-' } });
    expect(open.status).toBe(206);
    expect(open.headers.get('content-range')).toBe(`bytes 10-${size - 1}/${size}`);
    await open.body?.cancel();
    const part = await fetch(url, { headers: { Range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.url).toMatch(/\/cdn\/[0-9a-f]{64}\/pytorch_model\.bin$/);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${size}`);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(fileBytes('bin', 'pytorch_model.bin').subarray(10, 20));
    expect((await fetch(url, { headers: { Range: `bytes=${size}-` } })).status).toBe(416);
    const config = await fetch(hub.fileUrl(repoOf('bin'), 'config.json'));
    expect([config.status, config.redirected]).toEqual([200, false]);
    const codes = async (u: string) => {
      const r = await fetch(u);
      await r.arrayBuffer();
      return [r.status, r.headers.get('x-error-code')];
    };
    expect(await codes(hub.fileUrl(repoOf('bin'), 'model.safetensors'))).toEqual([404, 'EntryNotFound']);
    expect(await codes(hub.fileUrl('test-org/missing', 'config.json'))).toEqual([401, 'RepoNotFound']);
    expect(await codes(hub.fileUrl(repoOf('bin'), 'config.json', 'v9'))).toEqual([404, 'RevisionNotFound']);
  });
});

describe('ImageGPT.fromPretrained from a hub-shaped server', () => {
  let hub: HubServer;
  let device: GPUDevice;
  beforeAll(async () => {
    hub = await startHubServer();
    device = await getTestDevice();
  });
  afterAll(() => hub?.close());
  const options = () => ({ device, host: hub.url, cache: false as const });

  // f16 on the sharded layouts: the most chunk boundaries for the packing of pairs.
  const cases = LAYOUTS.flatMap((layout) => (layout.endsWith('sharded') ? (['f32', 'f16'] as const) : (['f32'] as const)).map((dtype) => [layout, dtype] as const));
  describe.each(cases)('layout %s by hub id, %s', (layout: Layout, dtype) => {
    it('gives the torch logits; only this layout is downloaded', async () => {
      hub.clearLog();
      const model = await ImageGPT.fromPretrained(repoOf(layout), { ...options(), dtype });
      await expectFixtureLogits(model, dtype);
      const downloaded = new Set(cdnGets(hub.log).map((e) => e.file));
      expect([...downloaded].sort()).toEqual(weightFiles(layout));
      // HF's order: each layout before the one found is asked for (404), in order; none after it (a file
      // read by several Range requests is asked for again in a row).
      const asked = hub.log.filter((e) => e.kind === 'resolve' && LAYOUT_FILES.includes(e.file ?? '')).map((e) => e.file).filter((f, i, all) => f !== all[i - 1]);
      expect(asked).toEqual(LAYOUT_FILES.slice(0, LAYOUTS.indexOf(layout) + 1));
    });
  });

  it('a base URL (the resolve/main folder) loads the same', async () => {
    const base = `${hub.url}/${repoOf('bin-sharded')}/resolve/main`;
    await expectFixtureLogits(await ImageGPT.fromPretrained(base, { device, dtype: 'f32', cache: false }));
    expectLoaded(await ImageGPT.fromPretrained(new URL(`${base}/`), { device, dtype: 'f32', cache: false }));
  });

  it('{ config, weights } with the bytes of a pytorch_model.bin', async () => {
    const config = JSON.parse(readFileSync(join(folderOf('bin'), 'config.json'), 'utf8')) as unknown;
    const weights = fileBytes('bin', 'pytorch_model.bin');
    await expectFixtureLogits(await ImageGPT.fromPretrained({ config, weights }, { device, dtype: 'f32' }));
  });

  it('local files: a Map<string, Blob> (sharded safetensors) and a File[] from a folder picker (sharded .bin)', async () => {
    const map = new Map<string, Blob>();
    for (const f of readdirSync(folderOf('safetensors-sharded'))) map.set(f, new Blob([fileBytes('safetensors-sharded', f)]));
    await expectFixtureLogits(await ImageGPT.fromPretrained(map, { device, dtype: 'f32' }));
    const files = readdirSync(folderOf('bin-sharded')).map((f) => {
      const file = new File([fileBytes('bin-sharded', f)], f);
      // What a folder picker sets; the loader must ignore the folder prefix.
      Object.defineProperty(file, 'webkitRelativePath', { value: `tiny-bin-sharded/${f}` });
      return file;
    });
    await expectFixtureLogits(await ImageGPT.fromPretrained(files, { device, dtype: 'f32' }));
  });

  it('a missing repo and a missing revision are errors naming them; a tag works', async () => {
    await expect(ImageGPT.fromPretrained('test-org/no-such-model', options())).rejects.toThrow(/test-org\/no-such-model/);
    const wrong = ImageGPT.fromPretrained(repoOf('safetensors'), { ...options(), revision: 'no-such-tag' });
    await expect(wrong).rejects.toThrow(/no-such-tag/);
    await expect(wrong).rejects.toThrow(/revision/i);
    hub.addRevision(repoOf('safetensors'), 'v1.0');
    hub.clearLog();
    expectLoaded(await ImageGPT.fromPretrained(repoOf('safetensors'), { ...options(), dtype: 'f32', revision: 'v1.0' }));
    const resolves = hub.log.filter((e) => e.kind === 'resolve');
    expect(resolves.length).toBeGreaterThan(0);
    expect(resolves.every((e) => e.revision === 'v1.0')).toBe(true);
  });

  it('a repo without weights in any layout: an error naming the repo and the files looked for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-empty-'));
    try {
      writeFileSync(join(dir, 'config.json'), readFileSync(join(folderOf('bin'), 'config.json')));
      hub.addRepo('test-org/config-only', dir);
      const load = ImageGPT.fromPretrained('test-org/config-only', options());
      await expect(load).rejects.toThrow(/test-org\/config-only/);
      await expect(load).rejects.toThrow(/model\.safetensors[^]*pytorch_model\.bin/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server without Range: same logits, each weight file downloaded exactly once', async () => {
    const plain = await startHubServer({ range: false });
    try {
      for (const layout of ['bin', 'safetensors-sharded'] as const) {
        plain.clearLog();
        const model = await ImageGPT.fromPretrained(repoOf(layout), { device, dtype: 'f32', host: plain.url, cache: false });
        if (layout === 'bin') await expectFixtureLogits(model);
        else expectLoaded(model);
        for (const f of weightFiles(layout)) {
          const gets = cdnGets(plain.log, f);
          expect(gets.map((e) => [e.status, e.bytes]), `${layout}/${f}`).toEqual([[200, sizeOf(layout, f)]]);
        }
      }
    } finally {
      await plain.close();
    }
  });

  it('with Range: safetensors in one request, each byte sent once; a .bin under 1 MiB read whole from one request, each byte once', async () => {
    hub.clearLog();
    expectLoaded(await ImageGPT.fromPretrained(repoOf('safetensors'), { ...options(), dtype: 'f32' }));
    const st = fileBytes('safetensors', 'model.safetensors');
    expect(cdnGets(hub.log, 'model.safetensors').map((e) => [e.range, e.status])).toEqual([['bytes=0-', 206]]);
    const stCount = coverage(hub.log, 'model.safetensors', st.length);
    expect(stCount.every((c) => c === 1), 'each byte of model.safetensors sent once').toBe(true);

    // A zip is read head, tail (its directory), then front to back. A small one is read whole from the first
    // response: one request, the file once on the wire (it used to take a second `bytes=0-` under ≈ 320 KiB).
    for (const [layout, file] of [['bin', 'pytorch_model.bin'], ['classifier-bin', 'pytorch_model.bin']] as const) {
      hub.clearLog();
      const model = await ImageGPT.fromPretrained(repoOf(layout), { ...options(), dtype: 'f32' });
      model.dispose();
      const gets = cdnGets(hub.log, file);
      expect(gets.map((e) => [e.range, e.status, e.bytes]), layout).toEqual([['bytes=0-', 206, sizeOf(layout, file)]]);
    }
  });

  it('with Range, a 10 MB checkpoint: one open-ended request, every byte sent exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-large-'));
    try {
      const config = { ...(JSON.parse(readFileSync(join(folderOf('bin'), 'config.json'), 'utf8')) as object), n_embd: 256, n_head: 4, n_layer: 3, n_positions: 64 };
      const bytes = largeCheckpoint(256, 3);
      expect(bytes.length).toBeGreaterThan(2 * (4 << 20));
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      writeFileSync(join(dir, 'model.safetensors'), bytes);
      hub.addRepo('test-org/large', dir);
      hub.clearLog();
      expectLoaded(await ImageGPT.fromPretrained('test-org/large', { ...options(), dtype: 'f32' }));
      const gets = cdnGets(hub.log, 'model.safetensors');
      expect(gets.map((e) => [e.range, e.status])).toEqual([['bytes=0-', 206]]);
      const count = coverage(hub.log, 'model.safetensors', bytes.length);
      expect(count.every((c) => c === 1), 'each byte sent once').toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('abort', () => {
    const abortMidLoad = async (layout: Layout, file: string, range: boolean) => {
      const server = range ? hub : await startHubServer({ range: false });
      const tracker = trackBuffers(device);
      try {
        let stalled!: () => void;
        const stall = new Promise<void>((resolve) => (stalled = resolve));
        server.hook = atOffset(file, Math.floor(sizeOf(layout, file) * 0.6), 'stallAfter', () => stalled());
        const controller = new AbortController();
        const load = ImageGPT.fromPretrained(repoOf(layout), { device, host: server.url, cache: false, signal: controller.signal });
        load.catch(() => {}); // observed below
        await within(stall, 30_000, `${layout}: the server never sent 60% of ${file}`);
        // The server has sent what it will; abort once the loader has made GPU buffers and is waiting for more.
        await within((async () => {
          while (tracker.created() === 0) await new Promise((r) => setTimeout(r, 10));
        })(), 30_000, `${layout}: no GPU buffer made before the stall in ${file}`);
        await new Promise((r) => setTimeout(r, 100));
        const made = tracker.created();
        controller.abort();
        const error = await within(load.then(() => null, (e: unknown) => e), 10_000, `${layout}: the aborted load`);
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).name).toBe('AbortError');
        expect(errorCode(error)).toBe('E_ABORTED');
        expect(made, 'GPU buffers made before the abort (the test must abort mid-upload)').toBeGreaterThan(0);
        expect(tracker.live.size, 'GPU buffers not destroyed after the abort').toBe(0);
      } finally {
        tracker.restore();
        server.hook = undefined;
        if (!range) await server.close();
      }
    };

    it('mid-download of a sharded safetensors (Range): AbortError, every GPU buffer destroyed', async () => {
      await abortMidLoad('safetensors-sharded', 'model-00002-of-00003.safetensors', true);
    });

    it('mid-download of a sharded .bin without Range: AbortError, every GPU buffer destroyed', async () => {
      await abortMidLoad('bin-sharded', 'pytorch_model-00002-of-00002.bin', false);
    });

    it('a signal aborted before the call: AbortError and no buffer left', async () => {
      const tracker = trackBuffers(device);
      try {
        const error = await ImageGPT.fromPretrained(repoOf('bin'), { ...options(), signal: AbortSignal.abort() }).catch((e: unknown) => e);
        expect((error as Error).name).toBe('AbortError');
        expect(tracker.live.size).toBe(0);
      } finally {
        tracker.restore();
      }
    });
  });

  it('cache: the first load fills it under the resolve URLs; the second makes no request and gives the same logits', async () => {
    const { cache, entries } = memoryCache();
    const layout = 'bin-sharded';
    hub.clearLog();
    await expectFixtureLogits(await ImageGPT.fromPretrained(repoOf(layout), { ...options(), dtype: 'f32', cache }));
    for (const f of ['config.json', 'pytorch_model.bin.index.json', ...weightFiles(layout)]) {
      const url = hub.fileUrl(repoOf(layout), f);
      expect(entries.has(url), `cache key ${url}`).toBe(true);
      expect(entries.get(url)!.body).toEqual(fileBytes(layout, f));
    }
    hub.clearLog();
    const phases = new Set<string>();
    const model = await ImageGPT.fromPretrained(repoOf(layout), { ...options(), dtype: 'f32', cache, onProgress: (p) => phases.add(p.phase) });
    expect(hub.log).toEqual([]);
    expect(phases.has('cached')).toBe(true);
    expect(phases.has('download')).toBe(false);
    await expectFixtureLogits(model);
  });

  it('cache: a download cut mid-body fails the load and never enters the cache', async () => {
    const { cache, entries } = memoryCache();
    const file = 'pytorch_model.bin';
    const url = hub.fileUrl(repoOf('bin'), file);
    hub.hook = atOffset(file, Math.floor(sizeOf('bin', file) / 2), 'cutAfter');
    try {
      await expect(within(ImageGPT.fromPretrained(repoOf('bin'), { ...options(), cache }), 30_000, 'the cut load')).rejects.toThrow();
    } finally {
      hub.hook = undefined;
    }
    // A put that was still reading the cut body may settle just after the load rejects.
    await new Promise((r) => setTimeout(r, 100));
    expect(entries.has(url)).toBe(false);
    expectLoaded(await ImageGPT.fromPretrained(repoOf('bin'), { ...options(), dtype: 'f32', cache }));
    expect(entries.get(url)?.body).toEqual(fileBytes('bin', file));
  });

  describe('a cache or fetch that misbehaves never hangs the load; abort always ends it (GPU buffers freed)', () => {
    /** A load of the sharded .bin through `cache`: completes (or rejects) within `ms`, with the warnings it gave. */
    const loadWith = async (cache: ModelCache, extra: { signal?: AbortSignal; onProgress?: (p: LoadProgress) => void; fetch?: typeof fetch } = {}, ms = 10_000) => {
      const warnings: string[] = [];
      const tracker = trackBuffers(device);
      try {
        const result = await within(
          ImageGPT.fromPretrained(repoOf('bin-sharded'), { ...options(), dtype: 'f32', cache, onWarning: (m) => warnings.push(m), ...extra }).then(
            (model) => ({ model, error: null }),
            (error: unknown) => ({ model: null, error }),
          ),
          ms,
          'the load',
        );
        const made = tracker.created();
        result.model?.dispose();
        return { ...result, warnings, made, live: tracker.live.size };
      } finally {
        tracker.restore();
      }
    };
    const shard = () => hub.fileUrl(repoOf('bin-sharded'), 'pytorch_model-00001-of-00002.bin');

    it('(a) a put that rejects at once without reading the body: the load completes, the model works', async () => {
      const r = await loadWith({ match: async () => undefined, put: () => Promise.reject(new DOMException('quota', 'QuotaExceededError')) });
      expect(r.error).toBeNull();
      expect(r.made).toBeGreaterThan(0);
      expect(r.live, 'GPU buffers left after dispose').toBe(0);
      expect(r.warnings).toContain(`options.cache: put(${shard()}) failed (quota); the file is not cached`);
    });

    it('(a) a put that keeps the response for later and never settles: the load completes after the put idles', async () => {
      const kept: Response[] = [];
      const r = await loadWith({ match: async () => undefined, put: (_url, response) => new Promise(() => void kept.push(response)) });
      expect(r.error).toBeNull();
      expect(r.warnings.some((w) => w.startsWith(`options.cache: put(${shard()}) has not finished and has not read its body for 2000 ms`))).toBe(true);
      expect(kept.length).toBeGreaterThan(0);
    });

    it('(b) a match that never settles: abort ends the load at once, nothing left on the GPU', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const r = await loadWith({ match: () => new Promise(() => {}), put: async () => {} }, { signal: controller.signal }, 3000);
      expect((r.error as Error).name).toBe('AbortError');
      expect(r.live).toBe(0);
    });

    it('(b) a put that never settles: abort during the wait for it ends the load, every weight buffer freed', async () => {
      const controller = new AbortController();
      const reading: ModelCache = {
        match: async () => undefined,
        put: async (_url, response) => {
          if (response.body) for (const reader = response.body.getReader(); !(await reader.read()).done; );
          await new Promise(() => {});
        },
      };
      // Abort once the last shard is uploaded: the load is then waiting for the puts.
      const onProgress = (p: LoadProgress) => {
        if (p.phase === 'upload' && p.overall.loaded === p.overall.total) setTimeout(() => controller.abort(), 300);
      };
      const r = await loadWith(reading, { signal: controller.signal, onProgress }, 5000);
      expect((r.error as Error).name).toBe('AbortError');
      expect(r.made, 'weight buffers made before the abort').toBeGreaterThan(0);
      expect(r.live, 'GPU buffers left after the abort').toBe(0);
    });

    it('(c) a put that throws synchronously: the load completes', async () => {
      const r = await loadWith({
        match: async () => undefined,
        put: () => {
          throw new TypeError('put is not supported');
        },
      });
      expect(r.error).toBeNull();
      expect(r.warnings.some((w) => w.includes('put is not supported'))).toBe(true);
    });

    it('(d) a match returning stored.clone(), and a fetch wrapper keeping response.clone(): loads settle', async () => {
      const stored = new Map<string, Response>();
      const cache: ModelCache = {
        match: async (url) => stored.get(url)?.clone(),
        put: async (url, response) => {
          const body = new Uint8Array(await response.arrayBuffer());
          stored.set(url, new Response(body, { status: response.status, headers: response.headers }));
        },
      };
      expect((await loadWith(cache)).error).toBeNull();
      hub.clearLog();
      const second = await loadWith(cache);
      expect(second.error).toBeNull();
      expect(hub.log).toEqual([]);
      const kept: Response[] = [];
      const cloning = (async (input: RequestInfo | URL, init?: RequestInit) => {
        const res = await fetch(input, init);
        kept.push(res.clone());
        return res;
      }) as typeof fetch;
      for (const layout of ['bin', 'safetensors-sharded'] as const) {
        const model = await within(ImageGPT.fromPretrained(repoOf(layout), { ...options(), dtype: 'f32', fetch: cloning }), 10_000, `${layout} through a cloning fetch`);
        expectLoaded(model);
      }
      expect(kept.length).toBeGreaterThan(0);
    });

    it('Cache Storage refused (SecurityError from caches.open): the default-cache load loads without caching', async () => {
      const saved = Object.getOwnPropertyDescriptor(globalThis, 'caches');
      Object.defineProperty(globalThis, 'caches', {
        configurable: true,
        value: { open: () => Promise.reject(new DOMException('The operation is insecure.', 'SecurityError')) },
      });
      try {
        const warnings: string[] = [];
        const model = await ImageGPT.fromPretrained(repoOf('bin'), { device, host: hub.url, dtype: 'f32', onWarning: (m) => warnings.push(m) });
        await expectFixtureLogits(model);
        expect(warnings).toEqual(["Cache Storage ('imagegpt-webgpu') is not available (The operation is insecure.); loading without a cache"]);
      } finally {
        if (saved) Object.defineProperty(globalThis, 'caches', saved);
        else delete (globalThis as { caches?: unknown }).caches;
      }
    });
  });

  it('a server whose 206 answers carry no readable Content-Range: each file by one plain GET, one Range request in all, no failure', async () => {
    const hidden = await startHubServer({ hideContentRange: true });
    try {
      for (const layout of LAYOUTS) {
        hidden.clearLog();
        const model = await ImageGPT.fromPretrained(repoOf(layout), { device, host: hidden.url, cache: false, dtype: 'f32' });
        if (layout === 'bin-sharded') await expectFixtureLogits(model);
        else expectLoaded(model);
        const gets = cdnGets(hidden.log);
        // One Range request for the whole load (it finds Range cannot be checked), then one plain GET per file.
        expect(gets.filter((e) => e.range !== undefined).length, layout).toBe(1);
        for (const f of weightFiles(layout)) {
          expect(gets.filter((e) => e.file === f && e.range === undefined).map((e) => [e.status, e.bytes]), `${layout}/${f}`).toEqual([[200, sizeOf(layout, f)]]);
        }
      }
    } finally {
      await hidden.close();
    }
  });

  it('gzip-encoded weights through a cache: loaded and cached whole', async () => {
    const gz = await startHubServer({ gzip: true });
    try {
      const { cache, entries } = memoryCache();
      expectLoaded(await ImageGPT.fromPretrained(repoOf('bin'), { device, host: gz.url, cache, dtype: 'f32' }));
      expect(entries.get(gz.fileUrl(repoOf('bin'), 'pytorch_model.bin'))?.body).toEqual(fileBytes('bin', 'pytorch_model.bin'));
    } finally {
      await gz.close();
    }
  });

  it('a download cut mid-body (Range or not, cached or not) is an Error naming the file', async () => {
    const plain = await startHubServer({ range: false });
    const file = 'pytorch_model.bin';
    const cut = atOffset(file, Math.floor(sizeOf('bin', file) / 2), 'cutAfter');
    hub.hook = cut;
    plain.hook = cut;
    try {
      const unclear: string[] = [];
      for (const [server, cache] of [[hub, false], [plain, false], [hub, memoryCache().cache]] as const) {
        const what = `${server === hub ? 'Range' : 'no Range'}, ${cache ? 'cache' : 'no cache'}`;
        const error = await within(ImageGPT.fromPretrained(repoOf('bin'), { device, host: server.url, cache }).then(() => null, (e: unknown) => e), 30_000, what);
        if (!(error instanceof Error) || !/pytorch_model\.bin/.test(error.message)) unclear.push(`${what}: ${String(error)}`);
        else if (errorCode(error) !== 'E_NETWORK') unclear.push(`${what}: code ${String(errorCode(error))}, expected E_NETWORK: ${error.message}`);
      }
      expect(unclear).toEqual([]);
    } finally {
      hub.hook = undefined;
      await plain.close();
    }
  });

  describe('progress: loaded ≤ total, the last event of a file at its size, overall.total fixed from the first event', () => {
    /** Every rule of the LoadProgress contract, for one load of `layout`; `gzip`: file sizes are unknown until read. */
    const checkContract = (events: LoadProgress[], layout: Layout, gzip: boolean) => {
      const files = weightFiles(layout);
      const sharded = layout.endsWith('sharded');
      const index = sharded ? (JSON.parse(readFileSync(join(folderOf(layout), LAYOUT_FILES[LAYOUTS.indexOf(layout)]), 'utf8')) as { metadata: { total_size: number } }) : null;
      for (const phase of ['download', 'upload'] as const) {
        const mine = events.filter((e) => e.phase === phase);
        expect(new Set(mine.map((e) => e.file)), phase).toEqual(new Set(files));
        for (const e of mine) {
          if (e.total !== undefined) expect(e.loaded, `${phase} ${e.file}: loaded ≤ total`).toBeLessThanOrEqual(e.total);
          if (e.overall.total !== undefined) expect(e.overall.loaded, `${phase} overall: loaded ≤ total`).toBeLessThanOrEqual(e.overall.total);
          // A number that a UI divides by is never 0.
          expect(e.total, `${phase} ${e.file}`).not.toBe(0);
          expect(e.overall.total, `${phase} overall`).not.toBe(0);
        }
        for (const f of files) {
          const seq = mine.filter((e) => e.file === f);
          for (let i = 1; i < seq.length; i++) expect(seq[i].loaded).toBeGreaterThanOrEqual(seq[i - 1].loaded);
          const last = seq[seq.length - 1];
          if (phase === 'download') expect([last.loaded, last.total], `${f}: last event at its size`).toEqual([sizeOf(layout, f), sizeOf(layout, f)]);
          else expect(last.loaded, `${f}: last upload event`).toBe(last.total);
          if (phase === 'download' && gzip) expect(seq.slice(0, -1).every((e) => e.total === undefined), `${f}: size unknown until read (gzip)`).toBe(true);
        }
        const totals = new Set(mine.map((e) => e.overall.total));
        expect(totals.size, `${phase}: overall.total never changes`).toBe(1);
        const overall = mine.map((e) => e.overall.loaded);
        for (let i = 1; i < overall.length; i++) expect(overall[i]).toBeGreaterThanOrEqual(overall[i - 1]);
        const end = mine[mine.length - 1].overall;
        if (phase === 'download') {
          // One file: its size (unknown under gzip); shards: unknown (their sizes come as each opens).
          const bytes = files.reduce((n, f) => n + sizeOf(layout, f), 0);
          expect(end, `${layout} download overall`).toEqual({ loaded: bytes, total: sharded || gzip ? undefined : bytes });
        } else {
          expect(end.loaded, `${layout} upload overall`).toBe(end.total);
          if (index) expect(end.total).toBe(index.metadata.total_size);
        }
      }
    };

    const loads = async (server: HubServer, gzip: boolean) => {
      for (const layout of LAYOUTS) {
        const events: LoadProgress[] = [];
        server.clearLog();
        expectLoaded(await ImageGPT.fromPretrained(repoOf(layout), { device, host: server.url, cache: false, dtype: 'f32', onProgress: (p) => events.push(structuredClone(p)) }));
        checkContract(events, layout, gzip);
        if (gzip) expect(cdnGets(server.log).every((e) => e.status === 200)).toBe(true);
      }
    };

    it('over Range, every layout', async () => {
      await loads(hub, false);
    });

    it('without Range, every layout', async () => {
      const plain = await startHubServer({ range: false });
      try {
        await loads(plain, false);
      } finally {
        await plain.close();
      }
    });

    it('gzip-encoded weights (the file sizes unknown until read), every layout', async () => {
      const gz = await startHubServer({ gzip: true });
      try {
        await loads(gz, true);
      } finally {
        await gz.close();
      }
    });

    it('a file over 1 MiB over Range: progress goes up as it arrives, the distinct bytes counted once', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hub-progress-'));
      try {
        const config = { ...(JSON.parse(readFileSync(join(folderOf('bin'), 'config.json'), 'utf8')) as object), n_embd: 128, n_head: 4, n_layer: 2, n_positions: 64 };
        writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
        writeFileSync(join(dir, 'model.safetensors'), largeCheckpoint(128, 2));
        hub.addRepo('test-org/progress', dir);
        const size = statSync(join(dir, 'model.safetensors')).size;
        expect(size).toBeGreaterThan(1 << 20);
        const events: LoadProgress[] = [];
        expectLoaded(await ImageGPT.fromPretrained('test-org/progress', { ...options(), dtype: 'f32', onProgress: (p) => events.push(structuredClone(p)) }));
        const download = events.filter((e) => e.phase === 'download');
        expect(download.length).toBeGreaterThan(1);
        expect(download.every((e) => e.total === size && e.overall.total === size && e.loaded <= size)).toBe(true);
        expect(download[0].loaded).toBeLessThan(size);
        expect(download[download.length - 1].loaded).toBe(size);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('a classifier checkpoint (pytorch_model.bin with score.weight) classifies as torch does', async () => {
    const fx = loadModelFixture('classifier');
    const model = await ImageGPT.fromPretrained(repoOf('classifier-bin'), { ...options(), dtype: 'f32' });
    try {
      expect(relError(await model.classify(fx.inputIds), fx.expected.get('logits')!)).toBeLessThan(1e-4);
    } finally {
      model.dispose();
    }
  });

  it('ImageGPTImageProcessor.fromPretrained by hub id', async () => {
    const processor = await ImageGPTImageProcessor.fromPretrained(repoOf('bin'), { host: hub.url, cache: false });
    const json = JSON.parse(readFileSync(join(folderOf('bin'), 'preprocessor_config.json'), 'utf8')) as { clusters: number[][] };
    expect(processor.numClusters).toBe(512);
    expect(processor.size).toEqual({ height: 4, width: 4 });
    expect(Array.from(processor.clusters.subarray(0, 3))).toEqual(json.clusters[0]);
    await expect(ImageGPTImageProcessor.fromPretrained('test-org/no-such-model', { host: hub.url, cache: false })).rejects.toThrow(/test-org\/no-such-model/);
  });
});
