import type { FileHandle } from 'node:fs/promises';

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
