// safetensors read front to back: the 8-byte length, the JSON header (declared to the sink), then every
// tensor's bytes piped on in file order, so no more than a chunk of the file is in memory at once.
import { readSafetensorsHeader, safetensorsHeaderBytes } from '../safetensors';
import type { ByteCursor, CheckpointReader, TensorSink } from './types';
import { clip } from '../json';
import { errorCode, ImageGPTError } from '../errors';

export const readSafetensorsCheckpoint: CheckpointReader = async (cursor: ByteCursor, sink: TensorSink): Promise<void> => {
  try {
    if (cursor.position !== 0) await cursor.seek(0);
    const prefix = await cursor.read(8);
    const headerBytes = safetensorsHeaderBytes(prefix, cursor.size);
    const rest = await cursor.read(headerBytes - 8);
    const bytes = new Uint8Array(headerBytes);
    bytes.set(prefix, 0);
    bytes.set(rest, 8);
    const header = readSafetensorsHeader(bytes, cursor.size);
    sink.declare(
      cursor.name,
      header.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
    );
    // The header's tensors are sorted by offset and tile the data section (readSafetensorsHeader checks).
    for (const t of header.tensors) {
      let offset = 0;
      await cursor.pipe(t.end - t.begin, (chunk) => {
        sink.data(t.name, offset, chunk);
        offset += chunk.length;
      });
    }
  } catch (e) {
    // A TypeError is the network's (a cut connection): the loader names the file and its URL.
    if (e instanceof Error && !(e instanceof TypeError) && !e.message.includes(cursor.name) && e.name !== 'AbortError') {
      throw new ImageGPTError(errorCode(e) ?? 'E_BAD_FILE', `${clip(cursor.name)}: ${e.message}`, { cause: e });
    }
    throw e;
  }
};
