import { describe, it, expect } from 'vitest';
import { RangeCursor, blobCursor, memoryCursor, streamCursor } from '../../src/loading/cursor';
import type { ByteCursor } from '../../src/loading/types';
import { chunkedStream } from './chunked';

const data = new Uint8Array(10000).map((_, i) => (i * 31 + 7) & 0xff);

async function collect(cursor: ByteCursor, length: number): Promise<{ bytes: number[]; pieces: number }> {
  const bytes: number[] = [];
  let pieces = 0;
  await cursor.pipe(length, (c) => {
    bytes.push(...c);
    pieces++;
  });
  return { bytes, pieces };
}

const makers: Record<string, () => ByteCursor> = {
  memory: () => memoryCursor('m.bin', data),
  blob: () => blobCursor('b.bin', new Blob([data]), 100),
  range: () => new RangeCursor('r.bin', data.length, async (a, b) => data.slice(a, b), 64),
  stream: () => streamCursor('s.bin', chunkedStream(data, [1, 7, 4093]), data.length),
  'stream, size unknown': () => streamCursor('s.bin', chunkedStream(data, [1, 7, 4093])),
};

describe('byte cursors', () => {
  it.each(Object.keys(makers))('%s: read, pipe and seek forward give the file in order', async (kind) => {
    const c = makers[kind]();
    expect(c.position).toBe(0);
    const a = await c.read(5);
    expect([...a]).toEqual([...data.subarray(0, 5)]);
    a[0] ^= 1; // the caller owns what read returns
    const { bytes } = await collect(c, 3000);
    expect(bytes).toEqual([...data.subarray(5, 3005)]);
    await c.seek(5000);
    expect(c.position).toBe(5000);
    expect([...(await c.read(200))]).toEqual([...data.subarray(5000, 5200)]);
    expect([...(await c.read(0))]).toEqual([]);
    await expect(c.read(5000)).rejects.toThrow(/\.bin: the file ends at byte 10000, but bytes \[5200, 10200\) were needed/);
    await c.close();
    await c.close();
  });

  it('random cursors seek back; a stream refuses to', async () => {
    for (const kind of ['memory', 'blob', 'range']) {
      const c = makers[kind]();
      await c.seek(9000);
      await c.read(10);
      await c.seek(1);
      expect([...(await c.read(3))]).toEqual([...data.subarray(1, 4)]);
      expect(c.random).toBe(true);
    }
    const s = makers.stream();
    expect(s.random).toBe(false);
    await s.read(100);
    await expect(s.seek(50)).rejects.toThrow(/s\.bin: seek back to byte 50 from byte 100.*front to back only/);
  });

  it('a stream pipes its own chunks, sliced, never joined', async () => {
    const c = streamCursor('s.bin', chunkedStream(data, [4000]));
    await c.read(10);
    const sizes: number[] = [];
    await c.pipe(9000, (chunk) => sizes.push(chunk.length));
    expect(sizes).toEqual([3990, 4000, 1010]);
  });

  it('a range cursor holds at most its window per fetch', async () => {
    const asked: number[] = [];
    const c = new RangeCursor('r.bin', data.length, async (a, b) => (asked.push(b - a), data.slice(a, b)), 256);
    await collect(c, 1000);
    await c.read(2000);
    expect(Math.max(...asked)).toBeLessThanOrEqual(2000);
    expect(asked.slice(0, 4)).toEqual([256, 256, 256, 232]);
  });

  it('bad lengths and a short fetch are errors naming the file', async () => {
    const c = memoryCursor('m.bin', data);
    await expect(c.read(-1)).rejects.toThrow(/m\.bin: a read of -1 bytes/);
    await expect(c.seek(20000)).rejects.toThrow(/m\.bin: seek to byte 20000, past the end of the file \(10000 bytes\)/);
    const short = new RangeCursor('r.bin', undefined, async (a, b) => data.slice(a, Math.min(b, 100)), 16);
    await short.seek(90);
    await expect(short.read(20)).rejects.toThrow(/r\.bin: the file ends at byte 100/);
  });
});
