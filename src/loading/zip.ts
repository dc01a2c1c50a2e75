// Zip archives (torch.save's format) read through a ByteCursor, in one of two ways:
// - random access: the end-of-central-directory record (and its zip64 locator/record) at the tail gives the
//   central directory, which lists every entry with its sizes, CRC and offset; entries are then read by offset;
// - forward only (a plain HTTP stream): local file headers are walked in file order. torch (and Python's
//   zipfile when streaming) defer an entry's sizes and CRC to a data descriptor after its data (flag bit 3);
//   such an entry is delimited by the size the caller knows it must have (a torch storage: numel × element
//   bytes) or, for STORED entries, by finding the descriptor whose signature, CRC and sizes all agree with
//   the bytes before it. A DEFLATE entry with deferred sizes cannot be delimited soundly and is refused.
// Entries stream in chunks (DEFLATE inflated as it arrives) with their CRC-32 checked incrementally.
// Hostile archives: every length, offset and count is checked against the bytes that exist before use.
import { Inflate } from 'fflate';
import type { ByteCursor } from './types';
import { clip, errorMessage, quote } from '../json';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  /** General-purpose flags; bit 3: sizes and CRC are in a data descriptor after the data. */
  flags: number;
  /** Unknown (undefined) only in forward mode for an entry whose sizes are deferred to its descriptor. */
  crc32: number | undefined;
  compressedSize: number | undefined;
  size: number | undefined;
  localHeaderOffset: number;
  /** The entry's local header has a zip64 extra field (its data descriptor then has 8-byte sizes). */
  zip64: boolean;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const DESCRIPTOR = 0x08074b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
/** Pieces of a random-mode pipe: the cursor's own window bounds memory anyway. */
const PIPE_BYTES = 1 << 20;

let crcTables: Uint32Array | null = null;

/** CRC-32 (the zip/PNG polynomial), continuing from `crc` for data read in pieces. Eight bytes a step
 * (eight tables: each byte's effect shifted by its distance), so streaming gigabytes costs seconds, not minutes. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (!crcTables) {
    crcTables = new Uint32Array(8 * 256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTables[n] = c >>> 0;
    }
    for (let t = 1; t < 8; t++) {
      for (let n = 0; n < 256; n++) {
        const prev = crcTables[(t - 1) * 256 + n];
        crcTables[t * 256 + n] = (prev >>> 8) ^ crcTables[prev & 0xff];
      }
    }
  }
  const T = crcTables;
  let c = ~crc;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  for (; i < end8; i += 8) {
    const a = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    const b = data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
    c =
      T[1792 + (a & 0xff)] ^
      T[1536 + ((a >>> 8) & 0xff)] ^
      T[1280 + ((a >>> 16) & 0xff)] ^
      T[1024 + (a >>> 24)] ^
      T[768 + (b & 0xff)] ^
      T[512 + ((b >>> 8) & 0xff)] ^
      T[256 + ((b >>> 16) & 0xff)] ^
      T[b >>> 24];
  }
  for (; i < data.length; i++) c = T[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** A little-endian field reader over bytes that says which record ran short, instead of a DataView RangeError. */
class Fields {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    private readonly fail: (problem: string) => Error,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private check(at: number, n: number, field: string): void {
    if (at < 0 || at + n > this.bytes.length) {
      throw this.fail(`${this.what}: ${field} at byte ${at} runs past its ${this.bytes.length} bytes`);
    }
  }
  u16(at: number, field: string): number {
    this.check(at, 2, field);
    return this.view.getUint16(at, true);
  }
  u32(at: number, field: string): number {
    this.check(at, 4, field);
    return this.view.getUint32(at, true);
  }
  u64(at: number, field: string): number {
    this.check(at, 8, field);
    const value = this.view.getUint32(at, true) + this.view.getUint32(at + 4, true) * 2 ** 32;
    if (!Number.isSafeInteger(value)) throw this.fail(`${this.what}: ${field} is ${value}, beyond 2^53 (not representable; corrupt or hostile zip)`);
    return value;
  }
  sub(at: number, n: number, field: string): Uint8Array {
    this.check(at, n, field);
    return this.bytes.subarray(at, at + n);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * Applies a zip64 extra field (id 1) to the sizes and offset whose 32-bit fields are all-ones, in the
 * spec's order. Returns whether the extra field holds one.
 */
function readExtra(
  extra: Fields,
  sizes: { size: number; compressedSize: number; offset?: number },
  what: string,
  fail: (problem: string) => Error,
): boolean {
  let zip64 = false;
  let x = 0;
  const end = extra.bytes.length;
  while (x < end) {
    if (x + 4 > end) throw fail(`${what}: extra field header at byte ${x} runs past its ${end} bytes`);
    const id = extra.u16(x, 'extra field id');
    const len = extra.u16(x + 2, 'extra field length');
    if (x + 4 + len > end) throw fail(`${what}: extra field 0x${id.toString(16)} of ${len} bytes runs past the extra data (${end - x - 4} bytes left)`);
    if (id === 0x0001) {
      zip64 = true;
      const field = new Fields(extra.bytes.subarray(x + 4, x + 4 + len), fail, `${what}: zip64 extra field`);
      let q = 0;
      if (sizes.size === U32_MAX) (sizes.size = field.u64(q, 'size')), (q += 8);
      if (sizes.compressedSize === U32_MAX) (sizes.compressedSize = field.u64(q, 'compressed size')), (q += 8);
      if (sizes.offset === U32_MAX) sizes.offset = field.u64(q, 'local header offset');
    }
    x += 4 + len;
  }
  return zip64;
}

function decodeName(raw: Uint8Array, flags: number, fail: (problem: string) => Error, what: string): string {
  if (!(flags & 0x800)) return latin1.decode(raw);
  try {
    return utf8.decode(raw);
  } catch {
    throw fail(`${what}: file name is not valid UTF-8`);
  }
}

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
    return new Error(`${clip(this.cursor.name)}: ${problem}`);
  }

  /**
   * Opens the archive. A random cursor must know its size (the directory is found from the end).
   * `notZip(head)` makes the error for a file whose first bytes are not a zip local header.
   */
  static async open(cursor: ByteCursor, notZip?: (head: Uint8Array) => Error): Promise<ZipReader> {
    const fail = (problem: string) => new Error(`${clip(cursor.name)}: ${problem}`);
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
    return (this.current = await this.readLocalHeader());
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
      if (entry.flags & 8) await this.readDescriptor(entry, entry.compressedSize, entry.size, crc);
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
      await this.readDescriptor(entry, expectedSize, expectedSize, crc);
      return;
    }
    await this.scanToDescriptor(entry, onChunk, scanLimit);
  }

  /**
   * A stored CRC of 0 means "not computed" (torch ≥ 2.6 with CRC computation off writes 0 for every entry, and
   * torch.load reads it): accepted. Any other mismatch is corruption. (An empty entry's true CRC is 0 too.)
   */
  checkCrc(entry: ZipEntry, crc: number, expected: number): void {
    if (expected === 0) return;
    if (crc !== expected) {
      throw this.error(`entry ${quote(entry.name)} fails its CRC-32 check (corrupt file: ${crc.toString(16)} ≠ ${expected.toString(16)})`);
    }
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

  // ───────────── forward mode ─────────────

  private async readLocalHeader(): Promise<ZipEntry | null> {
    const cursor = this.cursor;
    const offset = cursor.position;
    const fail = (p: string) => this.error(p);
    // The first entry's signature was read by `open`.
    const first = this.nextIndex++ === 0;
    const signature = first ? LOCAL : new Fields(await cursor.read(4), fail, 'record').u32(0, 'signature');
    const headerOffset = first ? 0 : offset;
    if (signature === CENTRAL || signature === EOCD || signature === ZIP64_EOCD) {
      // The central directory follows the last entry: read it through, so a cut file is still noticed.
      this.ended = true;
      await this.readTrailer(signature, this.nextIndex - 1);
      return null;
    }
    if (signature !== LOCAL) throw this.error(`expected a zip local file header at byte ${offset}, found 0x${signature.toString(16)} (corrupt zip)`);
    const what = `local header at byte ${headerOffset}`;
    const h = new Fields(await cursor.read(26), fail, what);
    const flags = h.u16(2, 'flags');
    const method = h.u16(4, 'method');
    let crc: number | undefined = h.u32(10, 'CRC-32');
    const sizes = { compressedSize: h.u32(14, 'compressed size'), size: h.u32(18, 'size') };
    const name = decodeName(await cursor.read(h.u16(22, 'name length')), flags, fail, what);
    const zip64 = readExtra(new Fields(await cursor.read(h.u16(24, 'extra length')), fail, what), sizes, `${what} (${quote(name)})`, fail);
    let size: number | undefined = sizes.size;
    let compressedSize: number | undefined = sizes.compressedSize;
    if (size === U32_MAX || compressedSize === U32_MAX) throw this.error(`entry ${quote(name)}: its 64-bit sizes are missing from its zip64 extra field (corrupt zip)`);
    if (flags & 8 && size === 0 && compressedSize === 0) {
      // Deferred to the data descriptor.
      crc = size = compressedSize = undefined;
    }
    if (cursor.size !== undefined && compressedSize !== undefined && cursor.position + compressedSize > cursor.size) {
      throw this.error(`entry ${quote(name)} ends at byte ${cursor.position + compressedSize}, past the end of the file (${cursor.size} bytes; truncated?)`);
    }
    return { name, method, flags, crc32: crc, compressedSize, size, localHeaderOffset: headerOffset, zip64 };
  }

  /** Forward mode: the central directory and end records after the last entry, checked against the entries read. */
  private async readTrailer(signature: number, entriesRead: number): Promise<void> {
    const cursor = this.cursor;
    const fail = (p: string) => this.error(p);
    const nextSignature = async () => new Fields(await cursor.read(4), fail, 'record').u32(0, 'signature');
    let sig = signature;
    let listed = 0;
    while (sig === CENTRAL) {
      const h = new Fields(await cursor.read(42), fail, `central directory entry ${listed}`);
      await cursor.seek(cursor.position + h.u16(24, 'name length') + h.u16(26, 'extra length') + h.u16(28, 'comment length'));
      listed++;
      sig = await nextSignature();
    }
    if (sig === ZIP64_EOCD) {
      const recordBytes = new Fields(await cursor.read(8), fail, 'zip64 end of central directory').u64(0, 'record size');
      if (cursor.size !== undefined && cursor.position + recordBytes > cursor.size) throw fail(`the zip64 end record (${recordBytes} bytes) runs past the end of the file`);
      await cursor.seek(cursor.position + recordBytes);
      sig = await nextSignature();
      if (sig === ZIP64_LOCATOR) {
        await cursor.seek(cursor.position + 16);
        sig = await nextSignature();
      }
    }
    if (sig !== EOCD) throw fail(`expected the end-of-central-directory record at byte ${cursor.position - 4}, found 0x${sig.toString(16)} (corrupt zip)`);
    const end = new Fields(await cursor.read(18), fail, 'end of central directory');
    await cursor.seek(cursor.position + end.u16(16, 'comment length'));
    if (listed !== entriesRead) throw fail(`the central directory lists ${listed} entries, but ${entriesRead} were read (corrupt zip)`);
    if (cursor.size !== undefined && cursor.position !== cursor.size) {
      throw fail(`${cursor.size - cursor.position} bytes follow the end of the zip archive (corrupt file?)`);
    }
  }

  /** Reads the data descriptor after an entry's data and checks it against what was read. */
  private async readDescriptor(entry: ZipEntry, compressedSize: number, size: number, crc: number): Promise<void> {
    const fail = (p: string) => this.error(p);
    const what = `data descriptor of entry ${quote(entry.name)}`;
    const sizeBytes = entry.zip64 ? 8 : 4;
    const first = new Fields(await this.cursor.read(4), fail, what).u32(0, 'signature');
    const rest = new Fields(await this.cursor.read(first === DESCRIPTOR ? 4 + 2 * sizeBytes : 2 * sizeBytes), fail, what);
    let at = 0;
    const storedCrc = first === DESCRIPTOR ? rest.u32((at += 4) - 4, 'CRC-32') : first;
    const readSize = (field: string) => (sizeBytes === 8 ? rest.u64((at += 8) - 8, field) : rest.u32((at += 4) - 4, field));
    const storedCompressed = readSize('compressed size');
    const storedSize = readSize('size');
    this.checkCrc(entry, crc, storedCrc);
    if (storedCompressed !== compressedSize || storedSize !== size) {
      throw this.error(`${what} gives sizes ${storedCompressed}/${storedSize}, but ${compressedSize}/${size} bytes were read (corrupt zip, or not the size the checkpoint declares)`);
    }
  }

  /**
   * A STORED entry whose size comes only after it: reads just enough at a time that the cursor never passes
   * the end of the descriptor, and stops at the first position where a descriptor signature is followed by
   * their length as both sizes; its CRC must then match theirs. Linear: each position is checked once.
   */
  private async scanToDescriptor(entry: ZipEntry, onChunk: (chunk: Uint8Array) => void, scanLimit: number): Promise<void> {
    const sizeBytes = entry.zip64 ? 8 : 4;
    const W = 8 + 2 * sizeBytes; // signature, CRC-32, compressed size, size
    const sig = [0x50, 0x4b, 0x07, 0x08];
    let buf = new Uint8Array(4096);
    let length = 0;
    let crcPos = 0;
    let crc = 0;
    let p = 0; // the next candidate position
    const u32 = (at: number) => (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0;
    const sizeAt = (at: number) => (sizeBytes === 8 ? u32(at) + u32(at + 4) * 2 ** 32 : u32(at));
    const sigPrefixAt = (at: number) => {
      for (let i = 0; i < 4 && at + i < length; i++) if (buf[at + i] !== sig[i]) return false;
      return true;
    };
    for (;;) {
      // Check every candidate that has its whole descriptor in the buffer.
      for (; p + W <= length; p++) {
        if (!sigPrefixAt(p) || sizeAt(p + 8) !== p || sizeAt(p + 8 + sizeBytes) !== p) continue;
        crc = crc32(buf.subarray(crcPos, p), crc);
        crcPos = p;
        // Signature and both sizes agree: this is the descriptor (a different CRC means corrupt data; refusing
        // is the safe side of the one-in-2^96 chance that the entry's own bytes look exactly like this).
        this.checkCrc(entry, crc, u32(p + 4));
        if (p > 0) onChunk(buf.subarray(0, p));
        return;
      }
      // The descriptor may start at the first position not yet ruled out: read only up to its end.
      let from = p;
      while (from < length && !sigPrefixAt(from)) from++;
      const want = from + W - length;
      if (length + want > scanLimit + W) {
        throw this.error(
          `entry ${quote(entry.name)}: no data descriptor within ${scanLimit} bytes, and its size is only given there ` +
            '(corrupt zip, or an entry too large to find its end front to back)',
        );
      }
      if (length + want > buf.length) {
        const bigger = new Uint8Array(Math.max(buf.length * 2, length + want));
        bigger.set(buf.subarray(0, length));
        buf = bigger;
      }
      buf.set(await this.cursor.read(want), length);
      length += want;
    }
  }
}

async function readCentralDirectory(
  cursor: ByteCursor,
  fileBytes: number,
  fail: (problem: string) => Error,
): Promise<{ entries: ZipEntry[]; directoryOffset: number }> {
  const notZip = (why: string) => fail(`not a complete zip archive (${why}); the file is truncated or corrupt`);
  if (fileBytes < 22) throw notZip(`only ${fileBytes} bytes`);

  // The end-of-central-directory record is the last 22 bytes plus a comment of up to 65535 bytes.
  const tailBytes = Math.min(fileBytes, 22 + 65535 + 20);
  const tailStart = fileBytes - tailBytes;
  await cursor.seek(tailStart);
  const tail = new Fields(await cursor.read(tailBytes), fail, 'end of central directory');
  let eocd = -1;
  for (let i = tailBytes - 22; i >= 0; i--) {
    if (tail.u32(i, 'signature') === EOCD && i + 22 + tail.u16(i + 20, 'comment length') === tailBytes) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw notZip('no end-of-central-directory record');
  let count = tail.u16(eocd + 10, 'entry count');
  let cdBytes = tail.u32(eocd + 12, 'central directory size');
  let cdOffset = tail.u32(eocd + 16, 'central directory offset');
  // Where the directory must end: the zip64 record if there is one, else the EOCD record.
  let cdLimit = tailStart + eocd;
  if (eocd >= 20 && tail.u32(eocd - 20, 'signature') === ZIP64_LOCATOR) {
    const recordAt = tail.u64(eocd - 20 + 8, 'zip64 record offset');
    if (recordAt + 56 > tailStart + eocd - 20) throw notZip(`zip64 record at byte ${recordAt} overlaps its locator or lies outside the file`);
    await cursor.seek(recordAt);
    const z = new Fields(await cursor.read(56), fail, 'zip64 end of central directory');
    if (z.u32(0, 'signature') !== ZIP64_EOCD) throw notZip('bad zip64 end-of-central-directory record');
    count = z.u64(32, 'entry count');
    cdBytes = z.u64(40, 'central directory size');
    cdOffset = z.u64(48, 'central directory offset');
    cdLimit = recordAt;
  } else if (count === U16_MAX || cdBytes === U32_MAX || cdOffset === U32_MAX) {
    throw notZip('zip64 values without a zip64 record');
  }
  if (cdOffset + cdBytes > cdLimit) throw notZip(`central directory [${cdOffset}, ${cdOffset + cdBytes}) runs past byte ${cdLimit}, where the directory must end`);
  // Every directory entry takes at least 46 bytes: a count beyond that is a lie, refused before any loop.
  if (count * 46 > cdBytes) throw notZip(`${count} entries cannot fit in a central directory of ${cdBytes} bytes`);
  await cursor.seek(cdOffset);
  const cd = new Fields(await cursor.read(cdBytes), fail, 'central directory');
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let p = 0;
  for (let n = 0; n < count; n++) {
    const what = `central directory entry ${n} (at byte ${cdOffset + p})`;
    if (cd.u32(p, `entry ${n} signature`) !== CENTRAL) throw notZip(`${what} has no entry signature`);
    const flags = cd.u16(p + 8, 'flags');
    const method = cd.u16(p + 10, 'method');
    const crc = cd.u32(p + 16, 'CRC-32');
    const sizes = { compressedSize: cd.u32(p + 20, 'compressed size'), size: cd.u32(p + 24, 'size'), offset: cd.u32(p + 42, 'local header offset') };
    const nameLength = cd.u16(p + 28, 'name length');
    const extraLength = cd.u16(p + 30, 'extra length');
    const commentLength = cd.u16(p + 32, 'comment length');
    const name = decodeName(cd.sub(p + 46, nameLength, `${what}: name`), flags, fail, what);
    const extra = new Fields(cd.sub(p + 46 + nameLength, extraLength, `${what}: extra field`), fail, `${what} (${quote(name)})`);
    const zip64 = readExtra(extra, sizes, `${what} (${quote(name)})`, fail);
    if (sizes.size === U32_MAX || sizes.compressedSize === U32_MAX || sizes.offset === U32_MAX) {
      throw fail(`${what} (${quote(name)}): its 64-bit sizes or offset are missing from its zip64 extra field (corrupt zip)`);
    }
    cd.sub(p + 46 + nameLength + extraLength, commentLength, `${what}: comment`);
    if (names.has(name)) throw fail(`the archive lists entry ${quote(name)} twice (corrupt or hostile zip)`);
    names.add(name);
    if (sizes.offset + 30 + sizes.compressedSize > cdOffset) {
      throw fail(`entry ${quote(name)} [${sizes.offset}, ${sizes.offset + 30 + sizes.compressedSize}) runs past the start of the central directory at byte ${cdOffset} (corrupt or truncated zip)`);
    }
    entries.push({ name, method, flags, crc32: crc, compressedSize: sizes.compressedSize, size: sizes.size, localHeaderOffset: sizes.offset, zip64 });
    p += 46 + nameLength + extraLength + commentLength;
  }
  // File order; two entries may not share bytes (each one's data is checked to end before the next begins).
  entries.sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < entries.length; i++) {
    const a = entries[i - 1];
    const b = entries[i];
    if (b.localHeaderOffset < a.localHeaderOffset + 30 + (a.compressedSize ?? 0)) {
      throw fail(`entries ${quote(a.name)} (at byte ${a.localHeaderOffset}) and ${quote(b.name)} (at byte ${b.localHeaderOffset}) overlap (corrupt or hostile zip)`);
    }
  }
  return { entries, directoryOffset: cdOffset };
}
