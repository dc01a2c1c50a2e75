// Zip archives (torch.save's format) read through a ByteCursor, in one of two ways:
// - random access: the central directory (found from the end of the file, ./zip-records) lists every entry
//   with its sizes, CRC and offset; entries are then read by offset;
// - forward only (a plain HTTP stream): local file headers are walked in file order (./zip-forward), an
//   entry with deferred sizes delimited by the size the caller knows it must have (a torch storage: numel ×
//   element bytes) or, for STORED entries, by its data descriptor. A DEFLATE entry with deferred sizes cannot
//   be delimited soundly and is refused.
// This file is the reader: entries stream in chunks (DEFLATE inflated as it arrives) with their CRC-32
// checked incrementally.
import { Inflate } from 'fflate';
import type { ByteCursor } from './types';
import { clip, errorMessage, quote } from '../json';
import { ImageGPTError } from '../errors';
import { crc32 } from './crc32';
import { Fields, LOCAL, checkCrc, decodeName, readCentralDirectory, type ZipEntry } from './zip-records';
import { endsEntries, readDescriptor, readLocalHeader, readSignature, readTrailer, scanToDescriptor } from './zip-forward';

export { crc32 } from './crc32';
export type { ZipEntry } from './zip-records';

/** Pieces of a random-mode pipe: the cursor's own window bounds memory anyway. */
const PIPE_BYTES = 1 << 20;

/** Reads entries of a zip archive from a cursor: random access when the cursor allows, else front to back. */
export class ZipReader {
  /** Random mode: every entry (from the central directory), in file order. Forward mode: undefined. */
  readonly directory: readonly ZipEntry[] | undefined;
  private readonly byName = new Map<string, ZipEntry>();
  /** Random mode: where each entry's local data may end (the next entry's header, or the directory). */
  private readonly limits = new Map<ZipEntry, number>();
  private nextIndex = 0;
  /** Forward mode: the entry `next` returned whose bytes have not been consumed yet. */
  private current: ZipEntry | null = null;
  private ended = false;

  private constructor(
    readonly cursor: ByteCursor,
    directory: ZipEntry[] | undefined,
    private readonly directoryOffset: number,
  ) {
    this.directory = directory;
    if (directory) {
      for (let i = 0; i < directory.length; i++) {
        const e = directory[i];
        this.byName.set(e.name, e);
        this.limits.set(e, i + 1 < directory.length ? directory[i + 1].localHeaderOffset : directoryOffset);
      }
    }
  }

  get random(): boolean {
    return this.directory !== undefined;
  }

  private error(problem: string): Error {
    return new ImageGPTError('E_BAD_FILE', `${clip(this.cursor.name)}: ${problem}`);
  }

  /**
   * Opens the archive. A random cursor must know its size (the directory is found from the end).
   * `notZip(head)` makes the error for a file whose first bytes are not a zip local header.
   */
  static async open(cursor: ByteCursor, notZip?: (head: Uint8Array) => Error): Promise<ZipReader> {
    const fail = (problem: string) => new ImageGPTError('E_BAD_FILE', `${clip(cursor.name)}: ${problem}`);
    const start = cursor.position;
    if (start !== 0) throw fail(`a zip archive is read from byte 0; the cursor is at byte ${start}`);
    const headBytes = cursor.size === undefined ? 4 : Math.min(4, cursor.size);
    const head = await cursor.read(headBytes);
    if (head.length < 4 || new Fields(head, fail, 'head').u32(0, 'signature') !== LOCAL) {
      throw notZip?.(head) ?? fail('not a zip archive (its first bytes are not a zip local file header)');
    }
    if (!cursor.random) return new ZipReader(cursor, undefined, 0);
    if (cursor.size === undefined) throw fail('a random-access zip read needs the file size');
    const { entries, directoryOffset } = await readCentralDirectory(cursor, cursor.size, fail);
    return new ZipReader(cursor, entries, directoryOffset);
  }

  /** Random mode only: the entry of this name, or undefined. */
  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * The next entry in file order, or null after the last. Forward mode: an entry not consumed by `read`
   * or `pipe` is skipped first (its bytes still checked against its CRC).
   */
  async next(): Promise<ZipEntry | null> {
    if (this.directory) return this.nextIndex < this.directory.length ? this.directory[this.nextIndex++] : null;
    if (this.current) await this.pipe(this.current, () => {});
    if (this.ended) return null;
    const fail = (p: string) => this.error(p);
    const offset = this.cursor.position;
    // The first entry's signature was read by `open`.
    const first = this.nextIndex++ === 0;
    const signature = first ? LOCAL : await readSignature(this.cursor, fail);
    if (endsEntries(signature)) {
      // The central directory follows the last entry: read it through, so a cut file is still noticed.
      this.ended = true;
      await readTrailer(this.cursor, signature, this.nextIndex - 1, fail);
      return null;
    }
    return (this.current = await readLocalHeader(this.cursor, signature, first ? 0 : offset, fail));
  }

  /** The whole entry, inflated and CRC-checked; more than `maxBytes` is an error. */
  async read(entry: ZipEntry, maxBytes: number): Promise<Uint8Array> {
    if (entry.size !== undefined && entry.size > maxBytes) {
      throw this.error(`entry ${quote(entry.name)} has ${entry.size} bytes, more than the ${maxBytes} expected of it`);
    }
    const parts: Uint8Array[] = [];
    let total = 0;
    await this.pipe(
      entry,
      (chunk) => {
        total += chunk.length;
        if (total > maxBytes) throw this.error(`entry ${quote(entry.name)} has more than the ${maxBytes} bytes expected of it`);
        parts.push(chunk.slice());
      },
      undefined,
      maxBytes,
    );
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) (out.set(p, at), (at += p.length));
    return out;
  }

  /**
   * Streams an entry's (uncompressed) bytes to `onChunk` in pieces valid only during the call, then checks
   * its size and CRC-32. `expectedSize`: the size the caller knows the entry must have — it is checked, and
   * in forward mode it delimits an entry whose sizes are deferred. `scanLimit`: how far a forward read may
   * search for the data descriptor of a deferred STORED entry when no size is expected.
   */
  async pipe(entry: ZipEntry, onChunk: (chunk: Uint8Array) => void, expectedSize?: number, scanLimit = 64 << 20): Promise<void> {
    if (entry.flags & 1) throw this.error(`entry ${quote(entry.name)} is encrypted, which is not supported`);
    if (entry.method !== 0 && entry.method !== 8) {
      throw this.error(`entry ${quote(entry.name)} uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
    }
    if (expectedSize !== undefined && entry.size !== undefined && entry.size !== expectedSize) {
      throw this.error(`entry ${quote(entry.name)} has ${entry.size} bytes, expected ${expectedSize}`);
    }
    if (this.directory) return this.pipeRandom(entry, onChunk);
    if (entry !== this.current) throw this.error(`entry ${quote(entry.name)} was passed by already; a forward-only stream reads entries in file order, once`);
    this.current = null;
    if (entry.size !== undefined && entry.compressedSize !== undefined && entry.crc32 !== undefined) {
      const crc = await this.pipeData(entry, entry.compressedSize, entry.size, onChunk);
      this.checkCrc(entry, crc, entry.crc32);
      if (entry.flags & 8) await readDescriptor(this.cursor, entry, entry.compressedSize, entry.size, crc, (p) => this.error(p));
      return;
    }
    if (entry.method !== 0) {
      throw this.error(
        `entry ${quote(entry.name)} is compressed and its size is only given after its data, so it cannot be read front to back; ` +
          'serve the file with HTTP Range support (or as a whole file), or re-save it with stored entries (torch.save does)',
      );
    }
    if (expectedSize !== undefined) {
      const crc = await this.pipeData(entry, expectedSize, expectedSize, onChunk);
      await readDescriptor(this.cursor, entry, expectedSize, expectedSize, crc, (p) => this.error(p));
      return;
    }
    await scanToDescriptor(this.cursor, entry, onChunk, scanLimit, (p) => this.error(p));
  }

  /** The entry's CRC-32 against the expected one (0: not computed, accepted; see checkCrc in ./zip-records). */
  checkCrc(entry: ZipEntry, crc: number, expected: number): void {
    checkCrc(entry, crc, expected, (p) => this.error(p));
  }

  // ───────────── random mode ─────────────

  private async pipeRandom(entry: ZipEntry, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    const cursor = this.cursor;
    const what = `local header of entry ${quote(entry.name)}`;
    const limit = this.limits.get(entry);
    const size = entry.size;
    const compressedSize = entry.compressedSize;
    const expectedCrc = entry.crc32;
    if (limit === undefined || size === undefined || compressedSize === undefined || expectedCrc === undefined) {
      throw this.error(`entry ${quote(entry.name)} is not in this archive's directory`);
    }
    if (entry.localHeaderOffset + 30 > limit) throw this.error(`${what} at byte ${entry.localHeaderOffset} overlaps the next entry or the central directory (corrupt zip)`);
    await cursor.seek(entry.localHeaderOffset);
    const fixed = new Fields(await cursor.read(30), (p) => this.error(p), what);
    if (fixed.u32(0, 'signature') !== LOCAL) throw this.error(`entry ${quote(entry.name)} has no local header at byte ${entry.localHeaderOffset} (corrupt zip)`);
    const nameLength = fixed.u16(26, 'name length');
    const extraLength = fixed.u16(28, 'extra length');
    const dataOffset = entry.localHeaderOffset + 30 + nameLength + extraLength;
    if (dataOffset + compressedSize > limit) {
      throw this.error(
        `entry ${quote(entry.name)} [${entry.localHeaderOffset}, ${dataOffset + compressedSize}) runs into the next entry or the central directory at byte ${limit} (corrupt zip: overlapping or truncated entries)`,
      );
    }
    const name = decodeName(await cursor.read(nameLength), fixed.u16(6, 'flags'), (p) => this.error(p), what);
    if (name !== entry.name) throw this.error(`the local header at byte ${entry.localHeaderOffset} names ${quote(name)}, the central directory ${quote(entry.name)} (corrupt zip)`);
    await cursor.seek(dataOffset);
    const crc = await this.pipeData(entry, compressedSize, size, onChunk);
    this.checkCrc(entry, crc, expectedCrc);
  }

  /** Moves `compressedSize` bytes from the cursor, inflating if needed; checks the size; returns the CRC. */
  private async pipeData(entry: ZipEntry, compressedSize: number, size: number, onChunk: (chunk: Uint8Array) => void): Promise<number> {
    let crc = 0;
    let produced = 0;
    const emit = (chunk: Uint8Array) => {
      produced += chunk.length;
      if (produced > size) throw this.error(`entry ${quote(entry.name)} inflates to more than its ${size} bytes (corrupt zip)`);
      crc = crc32(chunk, crc);
      onChunk(chunk);
    };
    if (entry.method === 0) {
      if (compressedSize !== size) throw this.error(`stored entry ${quote(entry.name)} has ${compressedSize} bytes in the archive but a size of ${size} (corrupt zip)`);
      await this.pipeCursor(compressedSize, emit);
    } else {
      let finished = false;
      let failure: unknown = null;
      const inflate = new Inflate((chunk, final) => {
        if (failure) return;
        try {
          emit(chunk);
        } catch (e) {
          failure = e;
        }
        if (final) finished = true;
      });
      const push = (chunk: Uint8Array, final: boolean) => {
        try {
          inflate.push(chunk, final);
        } catch (e) {
          throw this.error(`entry ${quote(entry.name)} is not valid deflate data (${errorMessage(e)})`);
        }
        if (failure) throw failure;
      };
      await this.pipeCursor(compressedSize, (chunk) => push(chunk, false));
      push(new Uint8Array(0), true);
      if (!finished) throw this.error(`entry ${quote(entry.name)}: its deflate data ends early (corrupt zip)`);
    }
    if (produced !== size) throw this.error(`entry ${quote(entry.name)} has ${produced} bytes, its header says ${size} (corrupt zip)`);
    return crc;
  }

  private async pipeCursor(length: number, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    // Random cursors are piped in bounded pieces so an inflater never gets one huge chunk.
    if (!this.cursor.random) return this.cursor.pipe(length, onChunk);
    for (let done = 0; done < length; done += PIPE_BYTES) await this.cursor.pipe(Math.min(PIPE_BYTES, length - done), onChunk);
  }
}
