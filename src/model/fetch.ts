// Downloading checkpoint files with byte progress.

export interface LoadProgress {
  /** 'download' while bytes arrive, 'upload' while tensors go to the GPU. */
  phase: 'download' | 'upload';
  loaded: number;
  /** Total bytes, when the server says (Content-Length); otherwise the bytes so far. */
  total: number;
}

/** `base` + '/' + `file`, whether or not base ends with a slash; keeps a query string (e.g. a revision) out of the way. */
export function joinUrl(base: string, file: string): string {
  const q = base.indexOf('?');
  const path = q >= 0 ? base.slice(0, q) : base;
  const query = q >= 0 ? base.slice(q) : '';
  return `${path.replace(/\/+$/, '')}/${file}${query}`;
}

/** Fetches a file into memory, reporting progress as the body streams in. */
export async function fetchBytes(url: string, f: typeof fetch, onProgress?: (p: LoadProgress) => void): Promise<Uint8Array> {
  const res = await f(url);
  if (!res.ok) throw new Error(`fetch ${url}: ${res.status} ${res.statusText}`);
  const header = Number(res.headers.get('content-length'));
  const total = Number.isFinite(header) && header > 0 ? header : 0;
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    onProgress?.({ phase: 'download', loaded: bytes.byteLength, total: bytes.byteLength });
    return bytes;
  }
  const reader = res.body.getReader();
  let out = new Uint8Array(total || 1 << 20);
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > out.byteLength) {
      const grown = new Uint8Array(Math.max(out.byteLength * 2, loaded + value.byteLength));
      grown.set(out.subarray(0, loaded));
      out = grown;
    }
    out.set(value, loaded);
    loaded += value.byteLength;
    onProgress?.({ phase: 'download', loaded, total: Math.max(total, loaded) });
  }
  if (total && loaded !== total) throw new Error(`fetch ${url}: got ${loaded} bytes, the server announced ${total} (truncated download?)`);
  return loaded === out.byteLength ? out : out.slice(0, loaded);
}
