// A zip read front to back (a plain HTTP stream, no Range): local file headers walked in file order, the
// data descriptor after an entry checked against what was read, and the central directory and end records
// after the last entry read through, so a cut file is still noticed. torch (and Python's zipfile when
// streaming) defer an entry's sizes and CRC to a data descriptor after its data (flag bit 3); such a STORED
// entry without a size the caller knows is delimited by finding the descriptor whose signature, CRC and
// sizes all agree with the bytes before it (scanToDescriptor).
import type { ByteCursor } from './types';
import { crc32 } from './crc32';
import { CENTRAL, DESCRIPTOR, EOCD, Fields, LOCAL, U32_MAX, ZIP64_EOCD, ZIP64_LOCATOR, checkCrc, decodeName, readExtra, type ZipEntry } from './zip-records';
import { quote } from '../json';

type Fail = (problem: string) => Error;

/** The 4-byte signature of the next record. */
export async function readSignature(cursor: ByteCursor, fail: Fail): Promise<number> {
  return new Fields(await cursor.read(4), fail, 'record').u32(0, 'signature');
}

/** Whether a record signature starts the central directory or the end records (no more entries follow). */
export function endsEntries(signature: number): boolean {
  return signature === CENTRAL || signature === EOCD || signature === ZIP64_EOCD;
}

/** The local file header after its `signature` (already read), at `headerOffset`; the cursor is left at its data. */
export async function readLocalHeader(cursor: ByteCursor, signature: number, headerOffset: number, fail: Fail): Promise<ZipEntry> {
  if (signature !== LOCAL) throw fail(`expected a zip local file header at byte ${headerOffset}, found 0x${signature.toString(16)} (corrupt zip)`);
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
  if (size === U32_MAX || compressedSize === U32_MAX) throw fail(`entry ${quote(name)}: its 64-bit sizes are missing from its zip64 extra field (corrupt zip)`);
  if (flags & 8 && size === 0 && compressedSize === 0) {
    // Deferred to the data descriptor.
    crc = size = compressedSize = undefined;
  }
  if (cursor.size !== undefined && compressedSize !== undefined && cursor.position + compressedSize > cursor.size) {
    throw fail(`entry ${quote(name)} ends at byte ${cursor.position + compressedSize}, past the end of the file (${cursor.size} bytes; truncated?)`);
  }
  return { name, method, flags, crc32: crc, compressedSize, size, localHeaderOffset: headerOffset, zip64 };
}

/** The central directory and end records after the last entry, checked against the entries read. */
export async function readTrailer(cursor: ByteCursor, signature: number, entriesRead: number, fail: Fail): Promise<void> {
  const nextSignature = () => readSignature(cursor, fail);
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
export async function readDescriptor(cursor: ByteCursor, entry: ZipEntry, compressedSize: number, size: number, crc: number, fail: Fail): Promise<void> {
  const what = `data descriptor of entry ${quote(entry.name)}`;
  const sizeBytes = entry.zip64 ? 8 : 4;
  const first = new Fields(await cursor.read(4), fail, what).u32(0, 'signature');
  const rest = new Fields(await cursor.read(first === DESCRIPTOR ? 4 + 2 * sizeBytes : 2 * sizeBytes), fail, what);
  let at = 0;
  const storedCrc = first === DESCRIPTOR ? rest.u32((at += 4) - 4, 'CRC-32') : first;
  const readSize = (field: string) => (sizeBytes === 8 ? rest.u64((at += 8) - 8, field) : rest.u32((at += 4) - 4, field));
  const storedCompressed = readSize('compressed size');
  const storedSize = readSize('size');
  checkCrc(entry, crc, storedCrc, fail);
  if (storedCompressed !== compressedSize || storedSize !== size) {
    throw fail(`${what} gives sizes ${storedCompressed}/${storedSize}, but ${compressedSize}/${size} bytes were read (corrupt zip, or not the size the checkpoint declares)`);
  }
}

/**
 * A STORED entry whose size comes only after it: reads just enough at a time that the cursor never passes
 * the end of the descriptor, and stops at the first position where a descriptor signature is followed by
 * their length as both sizes; its CRC must then match theirs. Linear: each position is checked once.
 */
export async function scanToDescriptor(cursor: ByteCursor, entry: ZipEntry, onChunk: (chunk: Uint8Array) => void, scanLimit: number, fail: Fail): Promise<void> {
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
      checkCrc(entry, crc, u32(p + 4), fail);
      if (p > 0) onChunk(buf.subarray(0, p));
      return;
    }
    // The descriptor may start at the first position not yet ruled out: read only up to its end.
    let from = p;
    while (from < length && !sigPrefixAt(from)) from++;
    const want = from + W - length;
    if (length + want > scanLimit + W) {
      throw fail(
        `entry ${quote(entry.name)}: no data descriptor within ${scanLimit} bytes, and its size is only given there ` +
          '(corrupt zip, or an entry too large to find its end front to back)',
      );
    }
    if (length + want > buf.length) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, length + want));
      bigger.set(buf.subarray(0, length));
      buf = bigger;
    }
    buf.set(await cursor.read(want), length);
    length += want;
  }
}
