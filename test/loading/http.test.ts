// HTTP status handling and the Range / stream choice, against a stub fetch (no network, no GPU).
import { describe, expect, it } from 'vitest';
import { errorCode } from '../../src/errors';
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
    expect(errorCode(before)).toBe('E_ABORTED');
    const controller = new AbortController();
    const hang = ((_: unknown, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))))) as typeof fetch;
    const p = httpGet(URL_, { fetch: hang, signal: controller.signal }).catch((e: unknown) => e);
    controller.abort();
    const during = (await p) as Error;
    expect(during.name).toBe('AbortError');
    expect(during.message).toMatch(/aborted/);
    expect(errorCode(during)).toBe('E_ABORTED');
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

function fileOf(n: number): Uint8Array<ArrayBuffer> {
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
    const cursor = await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true, wholeBytes: 0 });
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
    const cursor = (await openHttpFile(URL_, 'pytorch_model.bin', { fetch: server.fetch }, { range: true, skipBytes: 1000, wholeBytes: 0 }))!;
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
    const cursor = (await openHttpFile(URL_, 'pytorch_model.bin', { fetch: server.fetch }, { range: true, skipBytes: 1000, wholeBytes: 0 }))!;
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
    const cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true, skipBytes: 500, wholeBytes: 0 }))!;
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
    const cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true, wholeBytes: 0 }))!;
    const parts: Uint8Array[] = [];
    await cursor.pipe(10_000, (c) => parts.push(c.slice()));
    expect(Buffer.compare(Buffer.concat(parts), bytes)).toBe(0);
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-', 'bytes=3000-', 'bytes=6000-', 'bytes=9000-']);
    expect(sentCount(server.log, 10_000).every((c) => c === 1)).toBe(true);
  });

  it('200 to a Range request: that very response is read as a stream (no second request)', async () => {
    const bytes = fileOf(5000);
    const server = fileServer(bytes, { range: false, chunks: [7, 1, 333] });
    const cursor = await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch }, { range: true, wholeBytes: 0 });
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
    expect(await openHttpFile(URL_, 'x', { fetch: respond(404) }, { range: true, wholeBytes: 0 })).toBeNull();
  });

  it('a response shorter than its Content-Range, or a Content-Range of the wrong place, is an error naming the file and URL', async () => {
    const short = fileServer(fileOf(5000), { range: true, lie: 'short' });
    let cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: short.fetch }, { range: true, skipBytes: 0, wholeBytes: 0 }))!;
    await cursor.seek(2000);
    await expect(cursor.pipe(3000, () => {})).rejects.toThrow(`model.safetensors: the download from ${URL_} failed or broke off`);
    await cursor.close();
    const wrong = fileServer(fileOf(5000), { range: true, lie: 'range' });
    cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: wrong.fetch }, { range: true, skipBytes: 0, wholeBytes: 0 }))!;
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
    const cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: broken }, { range: true, wholeBytes: 0 }))!;
    const error = (await cursor.pipe(5000, () => {}).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(`model.safetensors: the download from ${URL_} failed or broke off (terminated)`);
    expect(error.cause).toBeInstanceOf(TypeError);

    const controller = new AbortController();
    const server = fileServer(bytes);
    const c2 = (await openHttpFile(URL_, 'model.safetensors', { fetch: server.fetch, signal: controller.signal }, { range: true, wholeBytes: 0 }))!;
    await c2.read(10);
    controller.abort();
    await c2.seek(4000);
    expect(((await c2.read(10).catch((e: unknown) => e)) as Error).name).toBe('AbortError');
  });

  it('a 206 whose Content-Range does not start at 0 is an error', async () => {
    const f = respond(206, { 'content-range': 'bytes 5-9/10' }, 'abcde');
    await expect(openHttpFile(URL_, 'x', { fetch: f }, { range: true, wholeBytes: 0 })).rejects.toThrow(`${URL_}: asked for bytes 0-, the server answered 206 with Content-Range "bytes 5-9/10"`);
  });

  it('a 206 without a readable Content-Range (not exposed cross-origin): one plain GET, read as a stream', async () => {
    const log: (string | null)[] = [];
    const f = (async (_u: string, init?: RequestInit) => {
      const range = new Headers(init?.headers).get('range');
      log.push(range);
      return range ? new Response('abc', { status: 206 }) : new Response('abcdef', { status: 200 });
    }) as typeof fetch;
    const cursor = await openHttpFile(URL_, 'x', { fetch: f }, { range: true, wholeBytes: 0 });
    expect(cursor?.random).toBe(false);
    expect(new TextDecoder().decode(await cursor!.read(6))).toBe('abcdef');
    expect(log).toEqual(['bytes=0-', null]);
  });
});

describe('HTTP details', () => {
  it('Content-Range "bytes 0-N/*" (length unknown, RFC 9110) is accepted: the body is the file, read front to back', async () => {
    const bytes = fileOf(5000);
    const f = (async () =>
      new Response(chunkedStream(bytes, [700]), { status: 206, headers: { 'content-range': 'bytes 0-4999/*' } })) as typeof fetch;
    const cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: f }, { range: true, wholeBytes: 0 }))!;
    expect([cursor.random, cursor.size]).toEqual([false, 5000]);
    expect(await cursor.read(5000)).toEqual(bytes);
    // A small one is read whole, with random access.
    const small = (await openHttpFile(URL_, 'model.safetensors', { fetch: f }, { range: true }))!;
    expect([small.random, small.size]).toEqual([true, 5000]);
    await small.seek(4990);
    expect(await small.read(10)).toEqual(bytes.slice(4990));
    // Later requests of a random-access cursor may answer `/*` too.
    const star = fileServer(bytes);
    const starFetch = (async (u: string, init?: RequestInit) => {
      const res = await star.fetch(u, init);
      const cr = res.headers.get('content-range');
      return cr && !cr.startsWith('bytes 0-') ? new Response(res.body, { status: 206, headers: { 'content-range': cr.replace(/\/\d+$/, '/*') } }) : res;
    }) as typeof fetch;
    const c = (await openHttpFile(URL_, 'model.safetensors', { fetch: starFetch }, { range: true, skipBytes: 0, wholeBytes: 0 }))!;
    await c.seek(3000);
    expect(await c.read(10)).toEqual(bytes.slice(3000, 3010));
    expect(star.log.map((e) => e.range)).toEqual(['bytes=0-', 'bytes=3000-']);
    await c.close();
  });

  it('Range answers that cannot be verified (206 without a readable Content-Range): one plain GET per file, not cached by the browser, and no Range for later files', async () => {
    const bytes = fileOf(3000);
    const log: { range: string | null; cache: RequestCache | undefined }[] = [];
    // A cross-origin server that does not expose Content-Range: what the page sees of its 206.
    const f = (async (_u: string, init?: RequestInit) => {
      const range = new Headers(init?.headers).get('range');
      log.push({ range, cache: init?.cache });
      return range ? new Response(bytes.slice(0, 1000), { status: 206 }) : new Response(bytes, { status: 200, headers: { 'content-length': '3000' } });
    }) as typeof fetch;
    const ctx: HttpContext = { fetch: f };
    for (const name of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      const cursor = (await openHttpFile(URL_, name, ctx, { range: true, wholeBytes: 0 }))!;
      expect(cursor.random).toBe(false);
      expect(await cursor.read(3000)).toEqual(bytes);
      await cursor.close();
    }
    expect(log).toEqual([
      { range: 'bytes=0-', cache: undefined },
      { range: null, cache: 'no-store' },
      { range: null, cache: 'no-store' },
    ]);
  });

  it('a 206 to a request without Range: used when its Content-Range says it is the whole file, else an error saying so', async () => {
    const bytes = fileOf(300);
    const whole = respond(206, { 'content-range': 'bytes 0-299/300' }, bytes);
    const ctx: HttpContext = { fetch: whole, rangeUnverifiable: true };
    expect(await (await openHttpFile(URL_, 'x', ctx, { range: true }))!.read(300)).toEqual(bytes);
    const part = respond(206, { 'content-range': 'bytes 0-99/300' }, bytes.slice(0, 100));
    await expect(openHttpFile(URL_, 'x', { fetch: part }, { range: false })).rejects.toThrow(
      `${URL_}: HTTP 206 (partial content) to a request without Range, with Content-Range "bytes 0-99/300"; expected the whole file (HTTP 200)`,
    );
    const hidden = respond(206, {}, bytes.slice(0, 100));
    await expect(openHttpFile(URL_, 'x', { fetch: hidden }, { range: false })).rejects.toThrow(/to a request without Range, with no readable Content-Range/);
  });

  it('a file under 1 MiB is read whole from its first response: a zip reader\'s head, tail and front cost one request, each byte sent once', async () => {
    const size = 300 << 10; // under the ≈ 320 KiB that a head, tail, front pattern used to download twice
    const bytes = fileOf(size);
    const server = fileServer(bytes, { range: true, chunks: [16 << 10] });
    const cursor = (await openHttpFile(URL_, 'pytorch_model.bin', { fetch: server.fetch }, { range: true }))!;
    expect([cursor.random, cursor.size]).toEqual([true, size]);
    expect(await cursor.read(4)).toEqual(bytes.slice(0, 4));
    await cursor.seek(size - 1000);
    expect(await cursor.read(1000)).toEqual(bytes.slice(size - 1000));
    await cursor.seek(0);
    const parts: Uint8Array[] = [];
    await cursor.pipe(size, (c) => parts.push(c.slice()));
    expect(Buffer.compare(Buffer.concat(parts), bytes)).toBe(0);
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-']);
    expect(sentCount(server.log, size).every((c) => c === 1)).toBe(true);
    // Without Range support, the same: one plain response, read whole.
    const plain = fileServer(bytes, { range: false, chunks: [16 << 10] });
    const c2 = (await openHttpFile(URL_, 'pytorch_model.bin', { fetch: plain.fetch }, { range: true }))!;
    expect(c2.random).toBe(true);
    await c2.seek(size - 10);
    expect(await c2.read(10)).toEqual(bytes.slice(size - 10));
    expect(plain.log.length).toBe(1);
  });

  it('network errors keep their cause and say it, bounded: a redirect loop, a header timeout', async () => {
    const { createServer } = await import('node:http');
    const loop = createServer((req, res) => {
      res.writeHead(302, { Location: req.url ?? '/' });
      res.end();
    });
    await new Promise<void>((r) => loop.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (loop.address() as { port: number }).port;
      const url = `http://127.0.0.1:${port}/model.safetensors`;
      const error = (await httpGet(url, { fetch }).catch((e: unknown) => e)) as Error;
      expect(error.message).toBe(`${url}: could not reach 127.0.0.1:${port} (fetch failed: redirect count exceeded)`);
      expect(error.cause).toBeInstanceOf(TypeError);
    } finally {
      loop.close();
    }
    const timeout = Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    const slow = (async () => {
      throw new TypeError('fetch failed', { cause: timeout });
    }) as typeof fetch;
    const error = (await httpGet(URL_, { fetch: slow }).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(`${URL_}: could not reach hub.test (fetch failed: Headers Timeout Error (UND_ERR_HEADERS_TIMEOUT))`);
    expect((error.cause as Error).cause).toBe(timeout);
    const long = (async () => {
      throw new TypeError('fetch failed', { cause: new Error('x'.repeat(60_000)) });
    }) as typeof fetch;
    const bounded = (await httpGet(URL_, { fetch: long }).catch((e: unknown) => e)) as Error;
    expect(bounded.message.length).toBeLessThan(URL_.length + 400);
  });

  it("a caller's fetch: a synchronous throw and a non-Response are clear errors; one that never settles or ignores the signal still ends on abort", async () => {
    const throws = (() => {
      throw new Error('no token');
    }) as unknown as typeof fetch;
    await expect(httpGet(URL_, { fetch: throws })).rejects.toThrow(`${URL_}: could not reach hub.test (no token)`);
    const odd = (async () => 'hello') as unknown as typeof fetch;
    await expect(httpGet(URL_, { fetch: odd })).rejects.toThrow(`${URL_}: options.fetch resolved with string, expected a Response`);

    const never = (() => new Promise<Response>(() => {})) as typeof fetch;
    const controller = new AbortController();
    const pending = httpGet(URL_, { fetch: never, signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 20);
    expect(((await within(pending, 2000, 'a never-settling fetch after abort')) as Error).name).toBe('AbortError');

    // A response whose body stalls and does not heed the signal: the read ends on abort.
    const stalls = (async () =>
      new Response(new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array(10)), pull: () => new Promise(() => {}) }), {
        status: 206,
        headers: { 'content-range': 'bytes 0-4999999/5000000' },
      })) as typeof fetch;
    for (const range of [true, false]) {
      const c = new AbortController();
      const cursor = (await openHttpFile(URL_, 'model.safetensors', { fetch: range ? stalls : stallsPlain, signal: c.signal }, { range }))!;
      const read = cursor.read(1000).catch((e: unknown) => e);
      setTimeout(() => c.abort(), 20);
      expect(((await within(read, 2000, `a stalled body after abort (range ${range})`)) as Error).name).toBe('AbortError');
      await within(cursor.close(), 2000, 'close');
    }
  });

  it('a fetch wrapper that keeps response.clone(): reads, jumps and close never wait for the unread clone', async () => {
    const bytes = fileOf(10_000);
    const server = fileServer(bytes, { range: true, chunks: [500] });
    const kept: Response[] = [];
    const cloning = (async (u: string, init?: RequestInit) => {
      const res = await server.fetch(u, init);
      kept.push(res.clone());
      return res;
    }) as typeof fetch;
    const work = (async () => {
      const cursor = (await openHttpFile(URL_, 'pytorch_model.bin', { fetch: cloning }, { range: true, skipBytes: 100, wholeBytes: 0 }))!;
      expect(await cursor.read(10)).toEqual(bytes.slice(0, 10));
      await cursor.seek(9000);
      expect(await cursor.read(1000)).toEqual(bytes.slice(9000));
      await cursor.seek(5000);
      expect(await cursor.read(10)).toEqual(bytes.slice(5000, 5010));
      await cursor.close();
      const plain = (await openHttpFile(URL_, 'x', { fetch: cloning }, { range: false }))!;
      expect(await plain.read(10)).toEqual(bytes.slice(0, 10));
      await plain.close();
    })();
    await within(work, 5000, 'reads and close with clones kept');
    expect(kept.length).toBe(4);
  });
});

const stallsPlain = (async () =>
  new Response(new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array(10)), pull: () => new Promise(() => {}) }), {
    status: 200,
    headers: { 'content-length': '5000000' },
  })) as typeof fetch;

/** Rejects with a clear message instead of hanging until Vitest's timeout. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
