// Byte cursors (see ByteCursor in ./types): bytes in memory, a Blob (local files), a forward-only stream
// (an HTTP response body), and `RangeCursor`, a random-access cursor over any "give me bytes [a, b)"
// function that keeps one bounded window of the file (Blob slices, Node file handles). HTTP Range
// requests have their own cursor, read as streams (./http).
import type { ByteCursor } from './types';
import { abortError, cancelQuietly, raceAbort } from './http';
import { ImageGPTError } from '../errors';

/** Window of a RangeCursor unless told otherwise: a few MiB, so small reads cost one fetch per window. */
export const DEFAULT_WINDOW_BYTES = 4 << 20;

export function checkLength(name: string, length: number, what: string): void {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new ImageGPTError('E_BAD_FILE', `${name}: ${what} of ${length} bytes asked for; expected a non-negative integer`);
  }
}

/** The error every cursor throws when the file ends before the bytes it was asked for. */
export function endedEarly(name: string, position: number, length: number, end: number): Error {
  return new ImageGPTError('E_BAD_FILE', 
    `${name}: the file ends at byte ${end}, but bytes [${position}, ${position + length}) were needed (truncated or incomplete file?)`,
  );
}

/**
 * A random-access cursor over `fetchRange(start, end)`, which returns the bytes [start, end) of the file
 * (fewer only where the file ends). Reads up to `windowBytes` are served from one cached window; longer
 * reads and pipes fetch exactly what they need, a window at a time, so memory stays bounded.
 */
export class RangeCursor implements ByteCursor {
  readonly random = true;
  private pos = 0;
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;
  private closed = false;

  constructor(
    readonly name: string,
    readonly size: number | undefined,
    private readonly fetchRange: (start: number, end: number) => Promise<Uint8Array>,
    private readonly windowBytes = DEFAULT_WINDOW_BYTES,
    private readonly onClose?: () => Promise<void>,
  ) {
    if (size !== undefined) checkLength(name, size, 'a file size');
    if (!Number.isSafeInteger(windowBytes) || windowBytes < 1) throw new ImageGPTError('E_BAD_INPUT', `${name}: window of ${windowBytes} bytes; expected a positive integer`);
  }

  get position(): number {
    return this.pos;
  }

  /** Bytes [start, start + length) fetched, exactly, or an error naming the file. */
  private async fetchExact(start: number, length: number): Promise<Uint8Array> {
    if (this.closed) throw new ImageGPTError('E_INTERNAL', `${this.name}: read after the cursor was closed`);
    if (this.size !== undefined && start + length > this.size) throw endedEarly(this.name, start, length, this.size);
    if (length === 0) return new Uint8Array(0);
    const got = await this.fetchRange(start, start + length);
    if (got.length > length) throw new ImageGPTError('E_NETWORK', `${this.name}: asked for bytes [${start}, ${start + length}), got ${got.length} bytes`);
    if (got.length < length) throw endedEarly(this.name, start, length, start + got.length);
    return got;
  }

  async read(length: number): Promise<Uint8Array> {
    checkLength(this.name, length, 'a read');
    const start = this.pos;
    const inWindow = start >= this.windowStart && start + length <= this.windowStart + this.window.length;
    let out: Uint8Array;
    if (inWindow) {
      out = this.window.slice(start - this.windowStart, start - this.windowStart + length);
    } else if (length > this.windowBytes) {
      out = (await this.fetchExact(start, length)).slice();
    } else {
      // Refill the window from here (as far as the file goes), then serve from it.
      const fill = this.size === undefined ? this.windowBytes : Math.max(length, Math.min(this.windowBytes, this.size - start));
      let w: Uint8Array;
      if (this.size === undefined) {
        if (this.closed) throw new ImageGPTError('E_INTERNAL', `${this.name}: read after the cursor was closed`);
        w = await this.fetchRange(start, start + fill);
        if (w.length < length) throw endedEarly(this.name, start, length, start + w.length);
      } else {
        w = await this.fetchExact(start, fill);
      }
      this.window = w;
      this.windowStart = start;
      out = w.slice(0, length);
    }
    this.pos = start + length;
    return out;
  }

  async pipe(length: number, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    checkLength(this.name, length, 'a pipe');
    if (this.size !== undefined && this.pos + length > this.size) throw endedEarly(this.name, this.pos, length, this.size);
    let left = length;
    while (left > 0) {
      const at = this.pos;
      // What the window already holds goes first (a local header's read usually fetched the data after it).
      const windowEnd = this.windowStart + this.window.length;
      const inWindow = at >= this.windowStart && at < windowEnd;
      const n = Math.min(left, inWindow ? windowEnd - at : this.windowBytes);
      const chunk = inWindow ? this.window.subarray(at - this.windowStart, at - this.windowStart + n) : await this.fetchExact(at, n);
      this.pos = at + n;
      left -= n;
      onChunk(chunk);
    }
  }

  async seek(offset: number): Promise<void> {
    checkLength(this.name, offset, 'a seek to an offset');
    if (this.size !== undefined && offset > this.size) {
      throw new ImageGPTError('E_BAD_FILE', `${this.name}: seek to byte ${offset}, past the end of the file (${this.size} bytes)`);
    }
    this.pos = offset;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.window = new Uint8Array(0);
    await this.onClose?.();
  }
}

/** Random access to bytes in memory (no copies but the ones `read` promises). */
export function memoryCursor(name: string, bytes: Uint8Array): ByteCursor {
  return new RangeCursor(name, bytes.length, async (start, end) => bytes.subarray(start, end), Math.max(1, bytes.length));
}

/** Random access to a Blob (a File from a picker or a drop): slices of `windowBytes` read on demand. */
export function blobCursor(name: string, blob: Blob, windowBytes = DEFAULT_WINDOW_BYTES): ByteCursor {
  return new RangeCursor(name, blob.size, async (start, end) => new Uint8Array(await blob.slice(start, end).arrayBuffer()), windowBytes);
}

/**
 * A forward-only cursor over a stream (an HTTP response body, a cached one). `read` copies into a fresh
 * array; `pipe` passes the stream's own chunks on, sliced at the requested bounds; `seek` forward skips by
 * reading. `size`, when known (Content-Length), only makes errors earlier and clearer. Each read is raced
 * against `signal`: a cache's body or a fetch wrapper's may not heed it.
 */
export function streamCursor(name: string, stream: ReadableStream<Uint8Array>, size?: number, signal?: AbortSignal): ByteCursor {
  return new StreamCursor(name, stream, size, signal);
}

class StreamCursor implements ByteCursor {
  readonly random = false;
  private pos = 0;
  private pending: Uint8Array = new Uint8Array(0);
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private closed = false;

  constructor(
    readonly name: string,
    stream: ReadableStream<Uint8Array>,
    readonly size: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (size !== undefined) checkLength(name, size, 'a file size');
    this.reader = stream.getReader();
  }

  get position(): number {
    return this.pos;
  }

  /** The next bytes of the stream, at most `max` of them (never empty); the end of the stream is an error. */
  private async next(max: number, start: number, length: number): Promise<Uint8Array> {
    while (this.pending.length === 0) {
      if (this.closed) throw new ImageGPTError('E_INTERNAL', `${this.name}: read after the cursor was closed`);
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await raceAbort(this.reader.read(), this.signal);
      } catch (e) {
        if (this.signal?.aborted) {
          cancelQuietly(this.reader);
          throw abortError();
        }
        throw e;
      }
      const { done, value } = r;
      if (done) throw endedEarly(this.name, start, length, this.pos);
      if (!(value instanceof Uint8Array)) throw new ImageGPTError('E_NETWORK', `${this.name}: the stream gave ${typeof value}, expected Uint8Array chunks`);
      this.pending = value;
    }
    const n = Math.min(max, this.pending.length);
    const chunk = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.pos += n;
    return chunk;
  }

  private checkEnd(length: number): void {
    if (this.size !== undefined && this.pos + length > this.size) throw endedEarly(this.name, this.pos, length, this.size);
  }

  async read(length: number): Promise<Uint8Array> {
    checkLength(this.name, length, 'a read');
    this.checkEnd(length);
    const start = this.pos;
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const chunk = await this.next(length - done, start, length);
      out.set(chunk, done);
      done += chunk.length;
    }
    return out;
  }

  async pipe(length: number, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    checkLength(this.name, length, 'a pipe');
    this.checkEnd(length);
    const start = this.pos;
    let left = length;
    while (left > 0) {
      const chunk = await this.next(left, start, length);
      left -= chunk.length;
      onChunk(chunk);
    }
  }

  async seek(offset: number): Promise<void> {
    checkLength(this.name, offset, 'a seek to an offset');
    if (offset < this.pos) {
      throw new ImageGPTError('E_UNSUPPORTED', `${this.name}: seek back to byte ${offset} from byte ${this.pos}, but this stream is read front to back only`);
    }
    await this.pipe(offset - this.pos, () => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending = new Uint8Array(0);
    // Not awaited: cancel() of a tee or clone branch (a cache's clone, the cache's split of a download)
    // settles only once its twin is read or cancelled too. A stream that already failed rejects it: ignored.
    cancelQuietly(this.reader);
    try {
      this.reader.releaseLock();
    } catch {
      // An older streams implementation refuses while a read is pending; the stream is cancelled anyway.
    }
  }
}
