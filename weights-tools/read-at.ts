import { open, type FileHandle } from 'node:fs/promises';
import { RangeCursor } from '../src/loading/cursor';

/** Up to `length` bytes at `position`: fewer only where the file ends. */
async function readUpTo(file: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(out, done, length - done, position + done);
    if (bytesRead === 0) return out.subarray(0, done);
    done += bytesRead;
  }
  return out;
}

/** Exactly `length` bytes at `position`; a file that ends first gets `short(endOfFile)` thrown. */
export async function readAt(file: FileHandle, position: number, length: number, short: (endOfFile: number) => Error): Promise<Uint8Array> {
  const out = await readUpTo(file, position, length);
  if (out.length < length) throw short(position + out.length);
  return out;
}

/** A random-access ByteCursor over a file on disk (the library's readers take cursors); close() closes the file. */
export async function openFileCursor(path: string): Promise<RangeCursor> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    // A short read is the cursor's to report.
    return new RangeCursor(path, size, (start, end) => readUpTo(file, start, end - start), undefined, () => file.close());
  } catch (e) {
    await file.close();
    throw e;
  }
}
