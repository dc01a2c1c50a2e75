// A local server shaped like the Hugging Face hub, for the loader's tests (Vitest) and the demo's e2e (plain node).
// It serves folders of files as repos:
//   GET|HEAD /{org}/{repo}/resolve/{revision}/{file}
//     JSON files: 200 with the bytes, as the hub serves small git files;
//     others: 302 to /cdn/{sha256}/{file}, as the hub redirects LFS files to its CDN.
//   GET|HEAD /cdn/{sha256}/{file}: the bytes with Content-Length, ETag, Accept-Ranges: bytes; a single
//     `Range: bytes=a-b` (or a- or -n) gets 206 + Content-Range, an unsatisfiable one 416.
//   Field conditions, switchable between loads: `hideContentRange` sends 206 without Content-Range (what a
//   page sees of a cross-origin server that does not expose it); `gzip` sends weight files gzip-encoded,
//   whole (200, Range ignored, Content-Length of the compressed body), as a compressing proxy does.
//   The hub's errors: missing file 404 + X-Error-Code: EntryNotFound; missing repo 401 + RepoNotFound;
//   missing revision 404 + RevisionNotFound.
// Types: hub-server.d.mts. The tests' copy with the fixture repos as default: test/helpers/hub-server.mjs.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { join, normalize, resolve, sep } from 'node:path';

const CHUNK = 16 * 1024;
const EXPOSED = [
  'Accept-Ranges', 'Content-Length', 'Content-Range', 'ETag', 'X-Error-Code', 'X-Error-Message',
  'X-Linked-Etag', 'X-Linked-Size', 'X-Repo-Commit',
].join(', ');

/** @param {import('./hub-server.d.mts').HubServerOptions} [options] */
export async function startHubServer(options = {}) {
  /** @type {Map<string, Map<string, string>>} repo id → revision → folder */
  const repos = new Map();
  /** @type {Map<string, string>} sha256 → absolute path: what the CDN may serve */
  const blobs = new Map();
  /** @type {Set<import('node:http').ServerResponse>} responses held open by a stall */
  const stalled = new Set();
  /** @type {Map<string, { mtimeMs: number, size: number, bytes: Buffer, sha: string }>} path → contents */
  const contents = new Map();
  // Read and hash each file once (until it changes), not on every request: the load benchmark makes
  // dozens of Range requests into 100+ MB files.
  const read = (/** @type {string} */ path) => {
    const st = statSync(path);
    const hit = contents.get(path);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit;
    const bytes = readFileSync(path);
    const entry = { mtimeMs: st.mtimeMs, size: st.size, bytes, sha: createHash('sha256').update(bytes).digest('hex') };
    contents.set(path, entry);
    return entry;
  };

  /** @type {Map<string, Buffer>} path → gzip of its contents */
  const gzipped = new Map();
  const gzipOf = (/** @type {string} */ path) => {
    const { sha, bytes } = read(path);
    const key = `${path}\n${sha}`;
    let z = gzipped.get(key);
    if (!z) {
      z = gzipSync(bytes);
      gzipped.set(key, z);
    }
    return z;
  };

  /** @type {import('./hub-server.d.mts').HubServer} */
  const hub = {
    url: '',
    log: [],
    range: options.range ?? true,
    hideContentRange: options.hideContentRange ?? false,
    gzip: options.gzip ?? false,
    hook: undefined,
    addRepo(id, folder) {
      if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new Error(`hub server: repo ${id}: ${folder} is not a folder`);
      repos.set(id, new Map([['main', resolve(folder)]]));
    },
    addRevision(id, revision, folder) {
      const revisions = repos.get(id);
      if (!revisions) throw new Error(`hub server: addRevision(${id}, ${revision}): no repo ${id}; addRepo it first`);
      revisions.set(revision, resolve(folder ?? revisions.get('main')));
    },
    fileUrl(id, file, revision = 'main') {
      return `${hub.url}/${id}/resolve/${encodeURIComponent(revision)}/${file}`;
    },
    clearLog() {
      hub.log.length = 0;
    },
    close() {
      for (const res of stalled) res.destroy();
      server.closeAllConnections();
      return new Promise((done, fail) => server.close((err) => (err ? fail(err) : done())));
    },
  };
  for (const [id, folder] of Object.entries(options.repos ?? {})) hub.addRepo(id, folder);

  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    /** @type {import('./hub-server.d.mts').HubRequest} */
    const entry = { method, path, range, kind: 'other', status: 0, bytes: 0 };
    hub.log.push(entry);
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED);
    // Counting requests in tests needs every request to reach us, not a browser's HTTP cache.
    res.setHeader('Cache-Control', 'no-store');
    const send = (status, headers = {}, body) => {
      entry.status = status;
      res.writeHead(status, headers);
      if (body && method !== 'HEAD') {
        entry.bytes += Buffer.byteLength(body);
        res.end(body);
      } else {
        res.end();
      }
    };
    const hubError = (status, code, message) =>
      send(status, { 'Content-Type': 'text/plain', 'X-Error-Code': code, 'X-Error-Message': message }, message);

    if (method === 'OPTIONS') {
      send(204, {
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'Range',
      });
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') return send(405, { Allow: 'GET, HEAD, OPTIONS' });

    let parts;
    try {
      parts = new URL(path, 'http://hub').pathname.split('/').slice(1).map(decodeURIComponent);
    } catch {
      return send(400, { 'Content-Type': 'text/plain' }, 'bad path');
    }
    if (parts[0] === 'cdn' && parts.length >= 3) {
      const file = blobs.get(parts[1]);
      if (!file) return send(404, { 'Content-Type': 'text/plain' }, 'no such blob');
      entry.kind = 'cdn';
      entry.file = parts.slice(2).join('/');
      return serveBytes(req, res, entry, file, parts.slice(2).join('/'));
    }
    // {org}/{repo}/resolve/{revision}/{file...}, or a legacy id without an org: {repo}/resolve/...
    const at = parts[1] === 'resolve' ? 1 : parts[2] === 'resolve' ? 2 : -1;
    if (at < 0) return send(404, { 'Content-Type': 'text/plain' }, 'not a hub path');
    const id = parts.slice(0, at).join('/');
    const revision = parts[at + 1] ?? '';
    const file = parts.slice(at + 2).join('/');
    Object.assign(entry, { kind: 'resolve', repo: id, revision, file });
    const revisions = repos.get(id);
    if (!revisions) return hubError(401, 'RepoNotFound', `Repository not found: ${id}`);
    const folder = revisions.get(revision);
    if (!folder) return hubError(404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    const full = normalize(join(folder, file));
    if (!file || !full.startsWith(folder + sep) || !existsSync(full) || !statSync(full).isFile()) {
      return hubError(404, 'EntryNotFound', 'Entry not found');
    }
    res.setHeader('X-Repo-Commit', createHash('sha1').update(`${id}@${revision}`).digest('hex'));
    if (file.endsWith('.json')) return serveBytes(req, res, entry, full, file);
    const { bytes, sha } = read(full);
    blobs.set(sha, full);
    const name = file.split('/').pop() ?? file;
    send(302, {
      Location: `${hub.url}/cdn/${sha}/${encodeURIComponent(name)}`,
      ETag: `"${sha}"`,
      'X-Linked-Etag': `"${sha}"`,
      'X-Linked-Size': String(bytes.length),
    });
  });

  /**
   * The bytes of `path`, whole or one range, through the hook (stall or cut mid-body).
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {import('./hub-server.d.mts').HubRequest} entry
   * @param {string} path
   * @param {string} file
   */
  function serveBytes(req, res, entry, path, file) {
    const { sha } = read(path);
    const gzip = hub.gzip && !file.endsWith('.json');
    // Gzip: the body is the compressed file, sent whole (the hook's offsets are the compressed body's).
    const bytes = gzip ? gzipOf(path) : read(path).bytes;
    const size = bytes.length;
    const headers = {
      'Content-Type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      ETag: `"${sha}"`,
    };
    if (gzip) headers['Content-Encoding'] = 'gzip';
    const ranges = hub.range && !gzip;
    if (ranges) headers['Accept-Ranges'] = 'bytes';
    let start = 0;
    let end = size; // exclusive
    let status = 200;
    const asked = ranges ? parseRange(entry.range, size) : undefined;
    if (asked === 'unsatisfiable') {
      entry.status = 416;
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` });
      res.end();
      return;
    }
    if (asked) {
      [start, end] = asked;
      status = 206;
      if (!hub.hideContentRange) headers['Content-Range'] = `bytes ${start}-${end - 1}/${size}`;
    }
    headers['Content-Length'] = String(end - start);
    entry.status = status;
    res.writeHead(status, headers);
    res.flushHeaders(); // a stall before the first byte must still let the client see the headers
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const plan = hub.hook?.({ method: req.method ?? 'GET', path: entry.path, file, start, end, size }) ?? {};
    const limit = Math.min(end - start, plan.stallAfter ?? Infinity, plan.cutAfter ?? Infinity);
    let sent = 0;
    // Chunked writes with backpressure, so a reader sees the body arrive in pieces as from a network.
    const pump = () => {
      while (sent < limit) {
        const chunk = bytes.subarray(start + sent, start + Math.min(limit, sent + CHUNK));
        sent += chunk.length;
        entry.bytes += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (sent === end - start) {
        res.end();
      } else if (plan.cutAfter !== undefined && plan.cutAfter <= (plan.stallAfter ?? Infinity)) {
        // Close the connection once what was written has gone out: the client sees a body shorter than Content-Length.
        res.socket?.end();
      } else {
        stalled.add(res);
        res.once('close', () => stalled.delete(res));
        plan.onStall?.();
      }
    };
    res.on('close', () => res.off('drain', pump));
    pump();
  }

  await new Promise((done) => server.listen(options.port ?? 0, '127.0.0.1', () => done(undefined)));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('hub server: no TCP address after listen');
  hub.url = `http://127.0.0.1:${address.port}`;
  return hub;
}

/**
 * One `bytes=` range → [start, end) within size; undefined when absent or not a single well-formed range
 * (a server may ignore those and send everything); 'unsatisfiable' when it starts past the end.
 * @param {string | undefined} header
 * @param {number} size
 * @returns {[number, number] | 'unsatisfiable' | undefined}
 */
export function parseRange(header, size) {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    return n === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size];
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return [start, last + 1];
}
