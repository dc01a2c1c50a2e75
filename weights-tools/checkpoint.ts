// A checkpoint on disk, whatever its format: a list of tensors whose bytes are read one at a time,
// so that converting a 5.5 GB file never holds more than one tensor in memory.
import { open } from 'node:fs/promises';
import { readSafetensorsHeader, safetensorsHeaderBytes, type SafetensorsDType } from '../src/safetensors';
import { openTorchCheckpoint } from '../src/loading/torch';
import { openFileCursor, readAt } from './read-at';
import { errorMessage } from '../src/json';

export interface CheckpointTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** The tensor's bytes: little-endian, row-major, contiguous. */
  read(): Promise<Uint8Array>;
}

export interface Checkpoint {
  path: string;
  format: 'torch' | 'safetensors';
  /** In the order the file lists them. */
  tensors: CheckpointTensor[];
  metadata: Record<string, string>;
  close(): Promise<void>;
}

/** Opens a `.safetensors` file: the header is read and validated against the file's size; data on demand. */
export async function openSafetensorsCheckpoint(path: string): Promise<Checkpoint> {
  const file = await open(path, 'r');
  try {
    const fileBytes = (await file.stat()).size;
    const read = (position: number, length: number) =>
      readAt(file, position, length, (end) => new Error(`${path}: file ended at byte ${end} while reading (changed on disk?)`));
    const prefix = await read(0, Math.min(8, fileBytes));
    let header;
    try {
      header = readSafetensorsHeader(await read(0, safetensorsHeaderBytes(prefix, fileBytes)), fileBytes);
    } catch (e) {
      throw new Error(`${path}: ${errorMessage(e)}`);
    }
    const start = header.headerBytes;
    const tensors = header.tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      read: () => read(start + t.begin, t.end - t.begin),
    }));
    return { path, format: 'safetensors', tensors, metadata: header.metadata, close: () => file.close() };
  } catch (e) {
    await file.close();
    throw e;
  }
}

/** Opens a checkpoint by its contents: a zip is torch.save's format, anything else must be safetensors. */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
  const file = await open(path, 'r');
  const magic = new Uint8Array(4);
  try {
    await file.read(magic, 0, 4, 0);
  } finally {
    await file.close();
  }
  const isZip = magic[0] === 0x50 && magic[1] === 0x4b && magic[2] === 0x03 && magic[3] === 0x04;
  if (isZip || path.endsWith('.bin') || path.endsWith('.pt') || path.endsWith('.pth')) {
    const cursor = await openFileCursor(path);
    try {
      const tensors = await openTorchCheckpoint(cursor);
      return { path, format: 'torch', tensors, metadata: {}, close: () => cursor.close() };
    } catch (e) {
      await cursor.close();
      throw e;
    }
  }
  return openSafetensorsCheckpoint(path);
}

/** Elements of a shape. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
