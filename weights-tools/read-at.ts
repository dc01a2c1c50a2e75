import { open, type FileHandle } from 'node:fs/promises';
import { RangeCursor } from '../src/loading/cursor';

/** Exactly `length` bytes at `position`; a file that ends first gets `short(endOfFile)` thrown. */
export async function readAt(file: FileHandle, position: number, length: number, short: (endOfFile: number) => Error): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(out, done, length - done, position + done);
    if (bytesRead === 0) throw short(position + done);
    done += bytesRead;
  }
  return out;
}

/** A random-access ByteCursor over a file on disk (the library's readers take cursors); close() closes the file. */
export async function openFileCursor(path: string): Promise<RangeCursor> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const fetchRange = async (start: number, end: number) => {
      const out = new Uint8Array(end - start);
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await file.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) break; // the cursor reports the short read
        done += bytesRead;
      }
      return out.subarray(0, done);
    };
    return new RangeCursor(path, size, fetchRange, undefined, () => file.close());
  } catch (e) {
    await file.close();
    throw e;
  }
}
