// The zip format's records and the random-access index: signatures, the little-endian field reader that
// names the record that ran short, zip64 extra fields, entry names, and the central directory found from
// the end-of-central-directory record (and its zip64 locator and record) at the tail of the file.
// Hostile archives: every length, offset and count is checked against the bytes that exist before use.
import type { ByteCursor } from './types';
import { quote } from '../json';

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

export const EOCD = 0x06054b50;
export const ZIP64_LOCATOR = 0x07064b50;
export const ZIP64_EOCD = 0x06064b50;
export const CENTRAL = 0x02014b50;
export const LOCAL = 0x04034b50;
export const DESCRIPTOR = 0x08074b50;
export const U32_MAX = 0xffffffff;
export const U16_MAX = 0xffff;
/** A little-endian field reader over bytes that says which record ran short, instead of a DataView RangeError. */
export class Fields {
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
export function readExtra(
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

export function decodeName(raw: Uint8Array, flags: number, fail: (problem: string) => Error, what: string): string {
  if (!(flags & 0x800)) return latin1.decode(raw);
  try {
    return utf8.decode(raw);
  } catch {
    throw fail(`${what}: file name is not valid UTF-8`);
  }
}

/** Random access: every entry the central directory lists, in file order, and where the directory starts. */
export async function readCentralDirectory(
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

/**
 * A stored CRC of 0 means "not computed" (torch ≥ 2.6 with CRC computation off writes 0 for every entry, and
 * torch.load reads it): accepted. Any other mismatch is corruption. (An empty entry's true CRC is 0 too.)
 */
export function checkCrc(entry: ZipEntry, crc: number, expected: number, fail: (problem: string) => Error): void {
  if (expected === 0) return;
  if (crc !== expected) {
    throw fail(`entry ${quote(entry.name)} fails its CRC-32 check (corrupt file: ${crc.toString(16)} ≠ ${expected.toString(16)})`);
  }
}
