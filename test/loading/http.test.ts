// HTTP status handling and the Range / stream choice, against a stub fetch (no network, no GPU).
import { describe, expect, it } from 'vitest';
import { httpGet, openHttpFile, type HttpContext } from '../../src/loading/http';
import { chunkedStream } from './chunked';

const URL_ = 'https://hub.test/org/name/resolve/main/model.safetensors';

function respond(status: number, headers: Record<string, string> = {}, body: BodyInit | null = null): typeof fetch {
  return (async () => new Response(body, { status, statusText: `status ${status}`, headers })) as typeof fetch;
}

const hub = { repo: 'org/name', revision: 'v2', host: 'https://hub.test' };

describe('httpGet: status handling', () => {
  it('200 and 206 are responses; 404 (EntryNotFound or none) is "not found"', async () => {
    expect((await httpGet(URL_, { fetch: respond(200, {}, 'x') }))?.status).toBe(200);
    expect((await httpGet(URL_, { fetch: respond(206, {}, 'x') }))?.status).toBe(206);
    expect(await httpGet(URL_, { fetch: respond(404, { 'X-Error-Code': 'EntryNotFound' }) })).toBeNull();
    expect(await httpGet(URL_, { fetch: respond(404) })).toBeNull();
  });

  it('RepoNotFound (401 or 404) names the repository and host', async () => {
    for (const status of [401, 404]) {
      await expect(httpGet(URL_, { fetch: respond(status, { 'X-Error-Code': 'RepoNotFound' }), hub })).rejects.toThrow(
        "repository 'org/name' was not found on https://hub.test (or it is private/gated)",
      );
    }
  });

  it('RevisionNotFound names the revision and the repository', async () => {
    await expect(httpGet(URL_, { fetch: respond(404, { 'X-Error-Code': 'RevisionNotFound' }), hub })).rejects.toThrow(
      /revision 'v2' of repository 'org\/name' was not found/,
    );
  });

  it('any other status is an error with the URL and the status', async () => {
    await expect(httpGet(URL_, { fetch: respond(500) })).rejects.toThrow(`${URL_}: HTTP 500`);
    await expect(httpGet(URL_, { fetch: respond(403) })).rejects.toThrow(/HTTP 403.*authorization/);
  });

  it('a network failure says the host could not be reached and keeps the cause', async () => {
    const cause = new TypeError('fetch failed');
    const fail = (async () => {
      throw cause;
    }) as typeof fetch;
    const error = (await httpGet(URL_, { fetch: fail }).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/could not reach hub\.test \(fetch failed\)/);
    expect(error.cause).toBe(cause);
  });

  it('an aborted signal is an AbortError, before and during the request', async () => {
    const before = (await httpGet(URL_, { fetch: respond(200), signal: AbortSignal.abort() }).catch((e: unknown) => e)) as Error;
    expect(before.name).toBe('AbortError');
    const controller = new AbortController();
    const hang = ((_: unknown, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))))) as typeof fetch;
    const p = httpGet(URL_, { fetch: hang, signal: controller.signal }).catch((e: unknown) => e);
    controller.abort();
    const during = (await p) as Error;
    expect(during.name).toBe('AbortError');
    expect(during.message).toMatch(/aborted/);
  });
});

/** A file server that honours Range (or not), logging every request's Range header. */
function fileServer(bytes: Uint8Array, opts: { range: boolean; chunks?: number[]; lie?: 'short' | 'range' } = { range: true }) {
  const log: (string | null)[] = [];
  const f = (async (_url: string | URL | Request, init?: RequestInit) => {
    const range = new Headers(init?.headers).get('range');
    log.push(range);
    const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    if (opts.range && m) {
      const start = Number(m[1]);
      const end = Math.min(bytes.length, Number(m[2]) + 1);
      let body = bytes.slice(start, end);
      if (opts.lie === 'short' && start > 0) body = body.slice(1);
      const cr = opts.lie === 'range' && start > 0 ? `bytes ${start + 1}-${end}/${bytes.length}` : `bytes ${start}-${end - 1}/${bytes.length}`;
      return new Response(body, { status: 206, headers: { 'content-range': cr, 'content-length': String(body.length) } });
    }
    return new Response(chunkedStream(bytes, opts.chunks ?? [1000]), { status: 200, headers: { 'content-length': String(bytes.length) } });
  }) as typeof fetch;
  return { fetch: f, log };
}

function fileOf(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 255;
  return b;
}

describe('openHttpFile', () => {
  it('206 with a matching Content-Range: random access by Range requests, each byte fetched once front to back', async () => {
    const bytes = fileOf(10_000);
    const server = fileServer(bytes);
    const ctx: HttpContext = { fetch: server.fetch };
    const cursor = await openHttpFile(URL_, 'model.safetensors', ctx, { range: true, windowBytes: 1024 });
    expect(cursor?.random).toBe(true);
    expect(cursor?.size).toBe(10_000);
    // A reader's pattern: small reads, then pipes that cross window boundaries at odd offsets.
    const got = new Uint8Array(10_000);
    let at = 0;
    for (const n of [8, 92]) {
      got.set(await cursor!.read(n), at);
      at += n;
    }
    for (const n of [1500, 3, 2999, 1021, 4377]) {
      await cursor!.pipe(n, (c) => {
        got.set(c, at);
        at += c.length;
      });
    }
    expect(at).toBe(10_000);
    expect(Buffer.compare(got, bytes)).toBe(0);
    // Each byte requested once, front to back (the last prefetch may run past what was read: no).
    const ranges = server.log.map((r) => /bytes=(\d+)-(\d+)/.exec(r ?? '')!.slice(1).map(Number));
    const coverage = new Uint8Array(10_000);
    for (const [a, b] of ranges) for (let i = a; i <= Math.min(b, 9999); i++) coverage[i]++;
    expect(coverage.every((c) => c === 1)).toBe(true);
    expect(ranges.map(([a]) => a)).toEqual(ranges.map(([a]) => a).sort((x, y) => x - y));
    await cursor!.seek(5000);
    expect(await cursor!.read(10)).toEqual(bytes.slice(5000, 5010));
    await cursor!.close();
  });

  it('200 to a Range request: that very response is read as a stream (no second request)', async () => {
    const bytes = fileOf(5000);
    const server = fileServer(bytes, { range: false, chunks: [7, 1, 333] });
    const cursor = await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true, windowBytes: 1024 });
    expect(cursor?.random).toBe(false);
    expect(await cursor!.read(5000)).toEqual(bytes);
    expect(server.log).toEqual(['bytes=0-1023']);
  });

  it('without range: one plain GET', async () => {
    const server = fileServer(fileOf(100));
    const cursor = await openHttpFile(URL_, 'config.json', { fetch: server.fetch }, { range: false });
    expect(await cursor!.read(100)).toEqual(fileOf(100));
    expect(server.log).toEqual([null]);
  });

  it('404 → null', async () => {
    expect(await openHttpFile(URL_, 'x', { fetch: respond(404) }, { range: true })).toBeNull();
  });

  it('a range of the wrong length or place is an error naming the URL', async () => {
    for (const lie of ['short', 'range'] as const) {
      const server = fileServer(fileOf(5000), { range: true, lie });
      const cursor = await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true, windowBytes: 1024 });
      await expect(cursor!.pipe(5000, () => {})).rejects.toThrow(URL_);
      await cursor!.close();
    }
  });

  it('a 206 whose Content-Range does not start at 0 is an error', async () => {
    const f = respond(206, { 'content-range': 'bytes 5-9/10' }, 'abcde');
    await expect(openHttpFile(URL_, 'x', { fetch: f }, { range: true })).rejects.toThrow(/Content-Range/);
  });

  it('a 206 without a readable Content-Range (not exposed cross-origin): one plain GET, read as a stream', async () => {
    const log: (string | null)[] = [];
    const f = (async (_u: string, init?: RequestInit) => {
      const range = new Headers(init?.headers).get('range');
      log.push(range);
      return range ? new Response('abc', { status: 206 }) : new Response('abcdef', { status: 200 });
    }) as typeof fetch;
    const cursor = await openHttpFile(URL_, 'x', { fetch: f }, { range: true, windowBytes: 3 });
    expect(cursor?.random).toBe(false);
    expect(new TextDecoder().decode(await cursor!.read(6))).toBe('abcdef');
    expect(log).toEqual(['bytes=0-2', null]);
  });
});
