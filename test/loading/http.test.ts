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

/**
 * A file server that honours `bytes=a-b` and `bytes=a-` (or not), or caps every range at `cap` bytes;
 * logs each request's Range header and the body bytes it sent (pulled by the reader: a cancelled
 * response sends only part). `lie`: later responses carry one byte too few, or a Content-Range off by one.
 */
function fileServer(
  bytes: Uint8Array,
  opts: { range: boolean; chunks?: number[]; lie?: 'short' | 'range'; cap?: number; firstFailsAfter?: number } = { range: true },
) {
  const log: { range: string | null; start: number; sent: number }[] = [];
  const f = (async (_url: string | URL | Request, init?: RequestInit) => {
    const range = new Headers(init?.headers).get('range');
    const entry = { range, start: 0, sent: 0 };
    log.push(entry);
    const m = range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
    const counted = (body: Uint8Array) => {
      const inner = chunkedStream(body, opts.chunks ?? [1000]).getReader();
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (entry === log[0] && opts.firstFailsAfter !== undefined && entry.sent >= opts.firstFailsAfter) {
            return controller.error(new TypeError('terminated'));
          }
          const { done, value } = await inner.read();
          if (done) return controller.close();
          entry.sent += value.length;
          controller.enqueue(value);
        },
        cancel: () => inner.cancel(),
      }, { highWaterMark: 0 });
    };
    if (opts.range && m) {
      const start = Number(m[1]);
      let end = Math.min(bytes.length, m[2] === '' ? bytes.length : Number(m[2]) + 1);
      if (opts.cap) end = Math.min(end, start + opts.cap);
      entry.start = start;
      let body = bytes.slice(start, end);
      if (opts.lie === 'short' && start > 0) body = body.slice(1);
      const cr = opts.lie === 'range' && start > 0 ? `bytes ${start + 1}-${end}/${bytes.length}` : `bytes ${start}-${end - 1}/${bytes.length}`;
      return new Response(counted(body), { status: 206, headers: { 'content-range': cr, 'content-length': String(end - start) } });
    }
    return new Response(counted(bytes), { status: 200, headers: { 'content-length': String(bytes.length) } });
  }) as typeof fetch;
  return { fetch: f, log };
}

function fileOf(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 255;
  return b;
}

/** How many times the server sent each byte. */
function sentCount(log: readonly { start: number; sent: number }[], size: number): Uint8Array {
  const count = new Uint8Array(size);
  for (const e of log) for (let i = e.start; i < e.start + e.sent; i++) count[i]++;
  return count;
}

describe('openHttpFile', () => {
  it('206 to bytes=0-: random access whose forward reads and pipes come from that one response, each byte sent once', async () => {
    const bytes = fileOf(10_000);
    const server = fileServer(bytes, { range: true, chunks: [7, 1000, 333] });
    const cursor = await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true });
    expect(cursor?.random).toBe(true);
    expect(cursor?.size).toBe(10_000);
    // A reader's pattern: small reads, pipes at odd offsets, forward seeks over small gaps.
    const got = new Uint8Array(10_000);
    const sizes: number[] = [];
    let at = 0;
    for (const n of [8, 92]) {
      got.set(await cursor!.read(n), at);
      at += n;
    }
    for (const n of [1500, 3, 2999, 1021]) {
      await cursor!.pipe(n, (c) => {
        sizes.push(c.length);
        got.set(c, at);
        at += c.length;
      });
    }
    got.set(bytes.subarray(at, at + 100), at);
    await cursor!.seek(at + 100);
    at += 100;
    await cursor!.pipe(10_000 - at, (c) => {
      got.set(c, at);
      at += c.length;
    });
    expect(Buffer.compare(got, bytes)).toBe(0);
    // The response's own chunks, sliced at the pipes' bounds (never joined).
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1000);
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-']);
    expect(sentCount(server.log, 10_000).every((c) => c === 1)).toBe(true);
    // Backwards: a new request from there.
    await cursor!.seek(5000);
    expect(await cursor!.read(10)).toEqual(bytes.slice(5000, 5010));
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-', 'bytes=5000-']);
    await cursor!.close();
    await expect(cursor!.read(1)).rejects.toThrow(/model\.safetensors: read after the cursor was closed/);
  });

  it("a zip reader's pattern (head, tail, directory inside the tail, then front to back): 2 requests, no byte sent twice", async () => {
    const bytes = fileOf(10_000);
    const server = fileServer(bytes);
    // (skipBytes: a 10 kB file stands for a large one, whose tail is far beyond the default.)
    const cursor = (await openHttpFile(URL_, 'pytorch_model.bin', { fetch: server.fetch }, { range: true, skipBytes: 1000 }))!;
    expect(await cursor.read(4)).toEqual(bytes.slice(0, 4));
    await cursor.seek(9000);
    expect(await cursor.read(1000)).toEqual(bytes.slice(9000));
    await cursor.seek(9500); // the directory: inside the tail just read
    expect(await cursor.read(300)).toEqual(bytes.slice(9500, 9800));
    // Back to the start: the first response, kept, gives it (its first 4 bytes from the read that took them).
    await cursor.seek(0);
    expect(await cursor.read(30)).toEqual(bytes.slice(0, 30));
    const parts: Uint8Array[] = [];
    await cursor.pipe(8970, (c) => parts.push(c.slice()));
    expect(Buffer.compare(Buffer.concat(parts), bytes.subarray(30, 9000))).toBe(0);
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-', 'bytes=9000-']);
    expect(sentCount(server.log, 10_000).every((c) => c <= 1)).toBe(true);
    await cursor.close();
  });

  it('a kept response that broke meanwhile: a new request instead', async () => {
    const bytes = fileOf(10_000);
    const server = fileServer(bytes, { range: true, chunks: [1000], firstFailsAfter: 1000 });
    const cursor = (await openHttpFile(URL_, 'pytorch_model.bin', { fetch: server.fetch }, { range: true, skipBytes: 1000 }))!;
    expect(await cursor.read(1000)).toEqual(bytes.slice(0, 1000));
    await cursor.seek(9000);
    expect(await cursor.read(1000)).toEqual(bytes.slice(9000));
    await cursor.seek(500);
    expect(await cursor.read(1000)).toEqual(bytes.slice(500, 1500));
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-', 'bytes=9000-', 'bytes=500-']);
    await cursor.close();
  });

  it('a jump further ahead than skipBytes drops the response for a new one; a shorter one reads through', async () => {
    const bytes = fileOf(10_000);
    const server = fileServer(bytes, { range: true, chunks: [100] });
    const cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true, skipBytes: 500 }))!;
    await cursor.read(10);
    await cursor.seek(400);
    expect(await cursor.read(10)).toEqual(bytes.slice(400, 410));
    await cursor.seek(4000);
    expect(await cursor.read(10)).toEqual(bytes.slice(4000, 4010));
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-', 'bytes=4000-']);
    expect(server.log[0].sent).toBeLessThan(1000);
    await cursor.close();
  });

  it('a server that answers a shorter range than asked: the next request starts where it ended', async () => {
    const bytes = fileOf(10_000);
    const server = fileServer(bytes, { range: true, cap: 3000 });
    const cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true }))!;
    const parts: Uint8Array[] = [];
    await cursor.pipe(10_000, (c) => parts.push(c.slice()));
    expect(Buffer.compare(Buffer.concat(parts), bytes)).toBe(0);
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-', 'bytes=3000-', 'bytes=6000-', 'bytes=9000-']);
    expect(sentCount(server.log, 10_000).every((c) => c === 1)).toBe(true);
  });

  it('200 to a Range request: that very response is read as a stream (no second request)', async () => {
    const bytes = fileOf(5000);
    const server = fileServer(bytes, { range: false, chunks: [7, 1, 333] });
    const cursor = await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true });
    expect(cursor?.random).toBe(false);
    expect(await cursor!.read(5000)).toEqual(bytes);
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-']);
  });

  it('without range: one plain GET', async () => {
    const server = fileServer(fileOf(100));
    const cursor = await openHttpFile(URL_, 'config.json', { fetch: server.fetch }, { range: false });
    expect(await cursor!.read(100)).toEqual(fileOf(100));
    expect(server.log.map((e) => e.range)).toEqual([null]);
  });

  it('404 → null', async () => {
    expect(await openHttpFile(URL_, 'x', { fetch: respond(404) }, { range: true })).toBeNull();
  });

  it('a response shorter than its Content-Range, or a Content-Range of the wrong place, is an error naming the file and URL', async () => {
    const short = fileServer(fileOf(5000), { range: true, lie: 'short' });
    let cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: short.fetch }, { range: true, skipBytes: 0 }))!;
    await cursor.seek(2000);
    await expect(cursor.pipe(3000, () => {})).rejects.toThrow(`model.safetensors: the download from ${URL_} failed or broke off`);
    await cursor.close();
    const wrong = fileServer(fileOf(5000), { range: true, lie: 'range' });
    cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: wrong.fetch }, { range: true, skipBytes: 0 }))!;
    await cursor.seek(2000);
    await expect(cursor.read(10)).rejects.toThrow(`model.safetensors: asked ${URL_} for bytes=2000- of 5000 bytes, the server answered Content-Range "bytes 2001-5000/5000"`);
    await cursor.close();
  });

  it('a response that fails mid-body is an Error naming the file and the URL; an aborted signal an AbortError', async () => {
    const bytes = fileOf(5000);
    const broken = (async () => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent) return controller.error(new TypeError('terminated'));
          sent = true;
          controller.enqueue(bytes.slice(0, 1000));
        },
      });
      return new Response(body, { status: 206, headers: { 'content-range': 'bytes 0-4999/5000' } });
    }) as typeof fetch;
    const cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: broken }, { range: true }))!;
    const error = (await cursor.pipe(5000, () => {}).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(`model.safetensors: the download from ${URL_} failed or broke off (terminated)`);
    expect(error.cause).toBeInstanceOf(TypeError);

    const controller = new AbortController();
    const server = fileServer(bytes);
    const c2 = (await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch, signal: controller.signal }, { range: true }))!;
    await c2.read(10);
    controller.abort();
    await c2.seek(4000);
    expect(((await c2.read(10).catch((e: unknown) => e)) as Error).name).toBe('AbortError');
  });

  it('a 206 whose Content-Range does not start at 0 is an error', async () => {
    const f = respond(206, { 'content-range': 'bytes 5-9/10' }, 'abcde');
    await expect(openHttpFile(URL_, 'x', { fetch: f }, { range: true })).rejects.toThrow(`${URL_}: asked for bytes 0-, the server answered 206 with Content-Range "bytes 5-9/10"`);
  });

  it('a 206 without a readable Content-Range (not exposed cross-origin): one plain GET, read as a stream', async () => {
    const log: (string | null)[] = [];
    const f = (async (_u: string, init?: RequestInit) => {
      const range = new Headers(init?.headers).get('range');
      log.push(range);
      return range ? new Response('abc', { status: 206 }) : new Response('abcdef', { status: 200 });
    }) as typeof fetch;
    const cursor = await openHttpFile(URL_, 'x', { fetch: f }, { range: true });
    expect(cursor?.random).toBe(false);
    expect(new TextDecoder().decode(await cursor!.read(6))).toBe('abcdef');
    expect(log).toEqual(['bytes=0-', null]);
  });
});
