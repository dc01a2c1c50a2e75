// The streaming safetensors reader: same tensors as the whole-file parser, whatever the chunking.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryCursor, streamCursor } from '../../src/loading/cursor';
import { readSafetensorsCheckpoint } from '../../src/loading/safetensors-stream';
import type { TensorInfo, TensorSink } from '../../src/loading/types';
import { parseSafetensors, writeSafetensors } from '../../src/safetensors';
import { FIXTURES } from '../helpers/fixtures';
import { chunkedStream } from './chunked';

const tiny = new Uint8Array(readFileSync(join(FIXTURES, 'tiny', 'model.safetensors')));

class Recorder implements TensorSink {
  declared: { file: string; tensors: readonly TensorInfo[] }[] = [];
  chunks = new Map<string, Uint8Array[]>();
  calls: string[] = [];
  declare(file: string, tensors: readonly TensorInfo[]): void {
    this.calls.push('declare');
    this.declared.push({ file, tensors });
  }
  data(name: string, byteOffset: number, bytes: Uint8Array): void {
    this.calls.push('data');
    const got = this.chunks.get(name) ?? [];
    if (byteOffset !== got.reduce((n, c) => n + c.length, 0)) throw new Error(`${name}: bytes out of order at ${byteOffset}`);
    got.push(bytes.slice());
    this.chunks.set(name, got);
  }

  bytes(name: string): Uint8Array {
    const got = this.chunks.get(name) ?? [];
    const out = new Uint8Array(got.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of got) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

describe('readSafetensorsCheckpoint', () => {
  it.each([
    ['memory', () => memoryCursor('model.safetensors', tiny)],
    ['a stream in 1-byte chunks at first, then odd sizes', () => streamCursor('model.safetensors', chunkedStream(tiny, [1, 1, 1, 5, 7, 4099, 13]), tiny.length)],
    ['a stream of unknown length', () => streamCursor('model.safetensors', chunkedStream(tiny, [65_537]))],
  ])('%s: every tensor, declared first, bytes in order', async (_, cursor) => {
    const sink = new Recorder();
    await readSafetensorsCheckpoint(cursor(), sink);
    expect(sink.calls[0]).toBe('declare');
    expect(sink.calls.filter((c) => c === 'declare')).toHaveLength(1);
    const file = parseSafetensors(tiny);
    expect(sink.declared[0].file).toBe('model.safetensors');
    expect(sink.declared[0].tensors.map((t) => t.name)).toEqual([...file.tensors.keys()]);
    for (const [name, t] of file.tensors) {
      expect(sink.declared[0].tensors.find((d) => d.name === name)).toEqual({ name, dtype: t.dtype, shape: t.shape });
      expect(Buffer.compare(sink.bytes(name), t.data), name).toBe(0);
    }
  });

  it('a truncated file is an error naming it; a bad header too', async () => {
    await expect(readSafetensorsCheckpoint(streamCursor('w.safetensors', chunkedStream(tiny.slice(0, 3000), [999])), new Recorder())).rejects.toThrow(
      /w\.safetensors/,
    );
    await expect(readSafetensorsCheckpoint(memoryCursor('w.safetensors', tiny.slice(0, 3000)), new Recorder())).rejects.toThrow(/w\.safetensors/);
    const bad = new Uint8Array(16);
    bad[0] = 8;
    bad.set(new TextEncoder().encode('{ nope  '), 8);
    await expect(readSafetensorsCheckpoint(memoryCursor('w.safetensors', bad), new Recorder())).rejects.toThrow(/w\.safetensors: safetensors: header is not valid JSON/);
  });

  it('a sink error stops the read and comes out as it is thrown', async () => {
    const sink = new Recorder();
    sink.data = () => {
      throw new Error('ImageGPT weights: nope');
    };
    const file = writeSafetensors([{ name: 'a', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    await expect(readSafetensorsCheckpoint(memoryCursor('x.safetensors', file), sink)).rejects.toThrow('x.safetensors: ImageGPT weights: nope');
  });
});
