// Random access to the entries of a zip file on disk (torch.save's format) without reading the whole file:
// the central directory at the end says where each entry lies, then each entry is read by offset.
// torch writes entries STORED (uncompressed), with data descriptors and zip64 records for big files;
// a DEFLATE entry (other writers) is inflated with fflate, which has no random-access reader of its own.
import { open, type FileHandle } from 'node:fs/promises';
import { inflateSync } from 'fflate';
import { readAt } from './read-at';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

let crcTable: Uint32Array | null = null;

/** CRC-32 (the zip/PNG polynomial), continuing from `crc` for data read in pieces. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const table = crcTable;
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function u64(view: DataView, at: number, what: string): number {
  const value = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
  if (!Number.isSafeInteger(value)) throw new Error(`zip: ${what} ${value} is too large`);
  return value;
}

export class ZipFile {
  readonly entries: Map<string, ZipEntry>;
  private readonly dataOffsets = new Map<string, number>();

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    readonly fileBytes: number,
    entries: Map<string, ZipEntry>,
  ) {
    this.entries = entries;
  }

  static async open(path: string): Promise<ZipFile> {
    const file = await open(path, 'r');
    try {
      const fileBytes = (await file.stat()).size;
      const entries = await readCentralDirectory(path, file, fileBytes);
      return new ZipFile(path, file, fileBytes, entries);
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  entry(name: string): ZipEntry {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path}: zip entry "${name}" is missing`);
    return e;
  }

  /** Reads `length` bytes at `position`; a short read means the file is truncated. */
  private async readAt(position: number, length: number, what: string): Promise<Uint8Array> {
    return readAt(this.file, position, length, () =>
      new Error(`${this.path}: ${what} ends at byte ${position + length}, but the file has ${this.fileBytes} bytes (truncated?)`));
  }

  /** File offset of an entry's data (after its local header, whose extra field may differ from the central one). */
  private async dataOffset(e: ZipEntry): Promise<number> {
    const known = this.dataOffsets.get(e.name);
    if (known !== undefined) return known;
    const local = await this.readAt(e.localHeaderOffset, 30, `local header of "${e.name}"`);
    const view = new DataView(local.buffer);
    if (view.getUint32(0, true) !== LOCAL) throw new Error(`${this.path}: entry "${e.name}" has no local header at byte ${e.localHeaderOffset} (corrupt zip)`);
    const offset = e.localHeaderOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true);
    if (offset + e.compressedSize > this.fileBytes) {
      throw new Error(`${this.path}: entry "${e.name}" ends at byte ${offset + e.compressedSize}, but the file has ${this.fileBytes} bytes (truncated?)`);
    }
    this.dataOffsets.set(e.name, offset);
    return offset;
  }

  /** `length` bytes from `start` within a STORED entry's data. */
  async readRange(e: ZipEntry, start: number, length: number): Promise<Uint8Array> {
    if (e.method !== 0) throw new Error(`${this.path}: entry "${e.name}" is compressed (method ${e.method}); only stored entries can be read in pieces`);
    if (start < 0 || length < 0 || start + length > e.size) {
      throw new Error(`${this.path}: bytes [${start}, ${start + length}) are outside entry "${e.name}" (${e.size} bytes)`);
    }
    return this.readAt((await this.dataOffset(e)) + start, length, `entry "${e.name}"`);
  }

  /** A whole entry, CRC-checked (and inflated if compressed). */
  async read(e: ZipEntry): Promise<Uint8Array> {
    const raw = await this.readAt(await this.dataOffset(e), e.compressedSize, `entry "${e.name}"`);
    let data: Uint8Array;
    if (e.method === 0) data = raw;
    else if (e.method === 8) data = inflateSync(raw, { out: new Uint8Array(e.size) });
    else throw new Error(`${this.path}: entry "${e.name}" uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    if (data.length !== e.size) throw new Error(`${this.path}: entry "${e.name}" has ${data.length} bytes, its directory says ${e.size} (corrupt zip)`);
    this.checkCrc(e, crc32(data));
    return data;
  }

  checkCrc(e: ZipEntry, crc: number): void {
    if (crc !== e.crc32) {
      throw new Error(`${this.path}: entry "${e.name}" fails its CRC-32 check (corrupt file: ${crc.toString(16)} ≠ ${e.crc32.toString(16)})`);
    }
  }
}

async function readCentralDirectory(path: string, file: FileHandle, fileBytes: number): Promise<Map<string, ZipEntry>> {
  const read = async (position: number, length: number): Promise<DataView> =>
    new DataView((await readAt(file, position, length, () => new Error(`${path}: short read at byte ${position} (truncated?)`))).buffer);
  const notZip = (why: string) =>
    new Error(`${path}: not a complete zip archive (${why}); the file is truncated or is not a torch.save checkpoint`);
  if (fileBytes < 22) throw notZip(`only ${fileBytes} bytes`);

  // The end-of-central-directory record is the last 22 bytes plus a comment of up to 65535 bytes.
  const tailBytes = Math.min(fileBytes, 22 + 65535 + 20);
  const tail = await read(fileBytes - tailBytes, tailBytes);
  let eocd = -1;
  for (let i = tailBytes - 22; i >= 0; i--) {
    if (tail.getUint32(i, true) === EOCD && i + 22 + tail.getUint16(i + 20, true) === tailBytes) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw notZip('no end-of-central-directory record');
  let count = tail.getUint16(eocd + 10, true);
  let cdBytes = tail.getUint32(eocd + 12, true);
  let cdOffset = tail.getUint32(eocd + 16, true);
  if (eocd >= 20 && tail.getUint32(eocd - 20, true) === ZIP64_LOCATOR) {
    const recordAt = u64(tail, eocd - 20 + 8, 'zip64 record offset');
    if (recordAt + 56 > fileBytes) throw notZip('zip64 record outside the file');
    const z = await read(recordAt, 56);
    if (z.getUint32(0, true) !== ZIP64_EOCD) throw notZip('bad zip64 end-of-central-directory record');
    count = u64(z, 32, 'entry count');
    cdBytes = u64(z, 40, 'central directory size');
    cdOffset = u64(z, 48, 'central directory offset');
  }
  if (cdOffset + cdBytes > fileBytes) throw notZip(`central directory [${cdOffset}, ${cdOffset + cdBytes}) lies outside the file`);
  const cd = await read(cdOffset, cdBytes);
  const bytes = new Uint8Array(cd.buffer);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cdBytes || cd.getUint32(p, true) !== CENTRAL) throw notZip(`central directory entry ${n} is damaged`);
    const method = cd.getUint16(p + 10, true);
    const crc = cd.getUint32(p + 16, true);
    let compressedSize = cd.getUint32(p + 20, true);
    let size = cd.getUint32(p + 24, true);
    const nameLength = cd.getUint16(p + 28, true);
    const extraLength = cd.getUint16(p + 30, true);
    const commentLength = cd.getUint16(p + 32, true);
    let localHeaderOffset = cd.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    // zip64: the 32-bit fields that overflowed are all-ones and their real values sit in extra field 0x0001.
    let x = p + 46 + nameLength;
    const extraEnd = x + extraLength;
    while (x + 4 <= extraEnd) {
      const id = cd.getUint16(x, true);
      const len = cd.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (size === U32_MAX) (size = u64(cd, q, 'entry size')), (q += 8);
        if (compressedSize === U32_MAX) (compressedSize = u64(cd, q, 'entry size')), (q += 8);
        if (localHeaderOffset === U32_MAX) localHeaderOffset = u64(cd, q, 'entry offset');
      }
      x += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size, crc32: crc, localHeaderOffset });
    p = extraEnd + commentLength;
  }
  return entries;
}
