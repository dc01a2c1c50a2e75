import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, tensorToFloat32, type SafetensorsDType } from '../../src/safetensors';
import { readTorchCheckpoint } from '../../src/loading/torch';
import { blobCursor, memoryCursor, streamCursor } from '../../src/loading/cursor';
import type { ByteCursor, TensorInfo, TensorSink } from '../../src/loading/types';
import { chunkedStream } from './chunked';
import { crc32 } from '../../src/loading/zip';

const FIXTURES = join(__dirname, '..', 'fixtures', 'torch');
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));

/** A sink that checks the contract (declare first, each tensor's bytes in order, exactly once) and keeps the bytes. */
class RecordingSink implements TensorSink {
  declared: TensorInfo[] | null = null;
  file = '';
  readonly bytes = new Map<string, Uint8Array>();
  readonly filled = new Map<string, number>();
  calls = 0;

  declare(file: string, tensors: readonly TensorInfo[]): void {
    expect(this.declared).toBeNull();
    expect(this.calls).toBe(0);
    this.file = file;
    this.declared = [...tensors];
    const bytesPer: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
    for (const t of tensors) {
      this.bytes.set(t.name, new Uint8Array(t.shape.reduce((a, b) => a * b, 1) * bytesPer[t.dtype]));
      this.filled.set(t.name, 0);
    }
  }

  data(name: string, byteOffset: number, bytes: Uint8Array): void {
    expect(this.declared).not.toBeNull();
    this.calls++;
    const out = this.bytes.get(name)!;
    expect(out).toBeDefined();
    expect(byteOffset).toBe(this.filled.get(name)); // contiguous, increasing, no gaps or repeats
    expect(byteOffset + bytes.length).toBeLessThanOrEqual(out.length);
    out.set(bytes, byteOffset);
    this.filled.set(name, byteOffset + bytes.length);
  }

  complete(): void {
    for (const [name, out] of this.bytes) expect([name, this.filled.get(name)]).toEqual([name, out.length]);
  }
}

/**
 * A copy of a zip with each entry's stored CRC-32 replaced by `crc(entryName)` everywhere it is written: the
 * central directory, the local header and (flag bit 3) the data descriptor after the data. Walks the archive
 * independently of the reader under test (zip64 sizes and offsets included). Returns how many of each it set.
 */
function withCrcs(original: Uint8Array, crc: (entry: string) => number): { bytes: Uint8Array; zeroed: { central: number; local: number; descriptor: number } } {
  const bytes = original.slice();
  const view = new DataView(bytes.buffer);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => u32(at) + u32(at + 4) * 2 ** 32;
  let eocd = bytes.length - 22;
  while (eocd >= 0 && u32(eocd) !== 0x06054b50) eocd--;
  expect(eocd).toBeGreaterThanOrEqual(0);
  let count = u16(eocd + 10);
  let p = u32(eocd + 16);
  if (eocd >= 20 && u32(eocd - 20) === 0x07064b50) {
    const record = u64(eocd - 20 + 8);
    count = u64(record + 32);
    p = u64(record + 48);
  }
  const zeroed = { central: 0, local: 0, descriptor: 0 };
  for (let n = 0; n < count; n++) {
    expect(u32(p)).toBe(0x02014b50);
    const flags = u16(p + 8);
    const nameLength = u16(p + 28);
    const extraLength = u16(p + 30);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    let compressed = u32(p + 20);
    let size = u32(p + 24);
    let offset = u32(p + 42);
    let zip64 = false;
    for (let x = p + 46 + nameLength; x < p + 46 + nameLength + extraLength; x += 4 + u16(x + 2)) {
      if (u16(x) !== 1) continue;
      zip64 = true;
      let q = x + 4;
      if (size === 0xffffffff) (size = u64(q)), (q += 8);
      if (compressed === 0xffffffff) (compressed = u64(q)), (q += 8);
      if (offset === 0xffffffff) offset = u64(q);
    }
    const value = crc(name);
    view.setUint32(p + 16, value, true);
    zeroed.central++;
    expect(u32(offset)).toBe(0x04034b50);
    view.setUint32(offset + 14, value, true);
    zeroed.local++;
    if (flags & 8) {
      const after = offset + 30 + u16(offset + 26) + u16(offset + 28) + compressed;
      view.setUint32(u32(after) === 0x08074b50 ? after + 4 : after, value, true);
      zeroed.descriptor++;
    }
    p += 46 + nameLength + extraLength + u16(p + 32);
  }
  return { bytes, zeroed };
}

type Mode = 'random' | 'stream';
const cursorOf = (mode: Mode, name: string, bytes: Uint8Array, sizes = [1, 7, 4093]): ByteCursor =>
  mode === 'random' ? memoryCursor(name, bytes) : streamCursor(name, chunkedStream(bytes, sizes));

async function read(mode: Mode, name: string, bytes: Uint8Array): Promise<RecordingSink> {
  const sink = new RecordingSink();
  const cursor = cursorOf(mode, name, bytes);
  try {
    await readTorchCheckpoint(cursor, sink);
  } finally {
    await cursor.close();
  }
  return sink;
}

const isFloat = (dtype: SafetensorsDType) => ['F32', 'F16', 'BF16', 'F64'].includes(dtype);
// tiny-deflated and tiny-zip64 are tiny-f16 and tiny-f32 re-zipped (DEFLATE; zip64 records).
const dumpedAs: Record<string, string> = { 'tiny-deflated': 'tiny-f16', 'tiny-zip64': 'tiny-f32' };

describe('readTorchCheckpoint', () => {
  const cases = ['tiny-f32', 'tiny-f16', 'tiny-bf16', 'tiny-views', 'tiny-deflated', 'tiny-zip64'].flatMap((n) =>
    (['random', 'stream'] as const).map((m) => [n, m] as const),
  );
  /** Reads `bytes` (fixture `name`, or a copy of it) and checks it gives exactly the tensors torch dumped for it. */
  async function expectDumped(name: string, mode: Mode, bytes: Uint8Array): Promise<void> {
    const expected = parseSafetensors(fixture(`${dumpedAs[name] ?? name}.expected.safetensors`)).tensors;
    const sink = await read(mode, `${name}.bin`, bytes);
    sink.complete();
    expect(sink.file).toBe(`${name}.bin`);
    // The state dict's order (the expected file was written in that order too).
    expect(sink.declared!.map((t) => t.name)).toEqual([...expected.keys()].sort((a, b) => expected.get(a)!.data.byteOffset - expected.get(b)!.data.byteOffset));
    for (const t of sink.declared!) {
      const want = expected.get(t.name)!;
      // The Python dump writes 0-d tensors (masked_bias) as [1]; torch's own shape is [].
      expect(t.shape).toEqual(want.shape.length === 1 && want.shape[0] === 1 && t.shape.length === 0 ? [] : want.shape);
      const got = sink.bytes.get(t.name)!;
      // Bit-exact (floats widened to f32 as the dump did).
      const bits = (a: Uint8Array | Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
      const same = isFloat(t.dtype)
        ? bits(tensorToFloat32({ name: t.name, dtype: t.dtype, shape: t.shape, data: got })).equals(bits(tensorToFloat32(want)))
        : bits(got).equals(bits(want.data));
      expect([t.name, same]).toEqual([t.name, true]);
    }
    // Old checkpoints' buffers are declared like any tensor (the uploader skips them by name).
    expect(sink.declared!.some((t) => t.name.endsWith('attn.bias'))).toBe(true);
  }

  it.each(cases)('%s.bin (%s) gives exactly the tensors torch dumped', (name, mode) => expectDumped(name, mode, fixture(`${name}.bin`)));

  // torch ≥ 2.6 with torch.serialization.set_crc32_options(False) writes 0 for every CRC-32, and torch.load
  // reads such files: a stored CRC of 0 means "not computed".
  it.each(cases)('%s.bin with every CRC-32 zeroed (%s) gives the same tensors', async (name, mode) => {
    const { bytes, zeroed } = withCrcs(fixture(`${name}.bin`), () => 0);
    expect(zeroed.central).toBeGreaterThan(5);
    expect(zeroed.local).toBe(zeroed.central);
    // torch's own files defer each CRC to a data descriptor too (the re-zipped copies do not).
    if (!(name in dumpedAs)) expect(zeroed.descriptor).toBe(zeroed.central);
    await expectDumped(name, mode, bytes);
  });

  it('a wrong non-zero CRC-32 in a CRC-0 checkpoint is still refused', async () => {
    for (const name of ['tiny-f32', 'tiny-deflated', 'tiny-zip64']) {
      // Zero every CRC but the storage data/0's, which becomes 1 (not its CRC): that entry alone is corrupt.
      const { bytes, zeroed } = withCrcs(fixture(`${name}.bin`), (entry) => (entry.endsWith('/data/0') ? 1 : 0));
      expect(zeroed.central).toBeGreaterThan(5);
      for (const mode of ['random', 'stream'] as const) {
        await expect(read(mode, `${name}.bin`, bytes)).rejects.toThrow(new RegExp(`${name}\\.bin: entry "[^"]+/data/0" fails its CRC-32 check \\(corrupt file: [0-9a-f]+ ≠ 1\\)`));
      }
    }
  });

  it.each(['bin/pytorch_model.bin', 'classifier-bin/pytorch_model.bin', 'bin-sharded/pytorch_model-00001-of-00002.bin', 'bin-sharded/pytorch_model-00002-of-00002.bin'])(
    'hub fixture %s: a stream, a Blob and memory give the same tensors',
    async (path) => {
      const bytes = new Uint8Array(readFileSync(join(__dirname, '..', 'fixtures', 'hub', path)));
      const stream = await read('stream', path, bytes);
      const random = await read('random', path, bytes);
      const blob = new RecordingSink();
      await readTorchCheckpoint(blobCursor(path, new Blob([bytes]), 1000), blob);
      for (const sink of [stream, random, blob]) sink.complete();
      expect(stream.declared).toEqual(random.declared);
      expect(blob.declared).toEqual(random.declared);
      expect(random.declared!.length).toBeGreaterThan(5);
      const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.from(a).equals(Buffer.from(b));
      for (const [name, b] of random.bytes) expect([name, same(stream.bytes.get(name), b), same(blob.bytes.get(name), b)]).toEqual([name, true, true]);
    },
  );

  it('routes a shared storage to each view chunk by chunk, without waiting for the whole storage', async () => {
    // tiny-views: wte and lm_head share storage 0 (lm_head at a non-zero offset).
    const sink = new RecordingSink();
    const seen: string[] = [];
    const data = sink.data.bind(sink);
    sink.data = (name, at, bytes) => (seen.push(`${name}@${at}`), data(name, at, bytes));
    const cursor = streamCursor('tiny-views.bin', chunkedStream(fixture('tiny-views.bin'), [4093]));
    await readTorchCheckpoint(cursor, sink);
    const wte = seen.filter((s) => s.startsWith('transformer.wte.weight@'));
    const head = seen.filter((s) => s.startsWith('lm_head.weight@'));
    expect(wte.length).toBeGreaterThan(3);
    expect(head.length).toBeGreaterThan(3);
    // Interleaved: lm_head's first bytes arrive before wte's last.
    expect(seen.indexOf(head[0])).toBeLessThan(seen.indexOf(wte[wte.length - 1]) + head.length);
  });

  it('refuses a pickle that would run code, naming the callable, in both modes', async () => {
    for (const mode of ['random', 'stream'] as const) {
      await expect(read(mode, 'evil.bin', fixture('evil.bin'))).rejects.toThrow(/evil\.bin: .*refusing to call __builtin__\.print/);
    }
  });

  it("refuses torch's legacy format clearly, in both modes", async () => {
    for (const mode of ['random', 'stream'] as const) {
      await expect(read(mode, 'legacy.bin', fixture('legacy.bin'))).rejects.toThrow(/legacy\.bin: this is torch's legacy \(pre-1\.6\).*re-save it with a newer torch/);
    }
    await expect(read('stream', 'x.bin', new TextEncoder().encode('{"not": "a zip"}'))).rejects.toThrow(/x\.bin: not a torch\.save checkpoint/);
  });

  it('a truncated file is an error, whatever is cut', async () => {
    const bytes = fixture('tiny-f32.bin');
    for (const keep of [10, 1000, bytes.length / 2, bytes.length - 30]) {
      const cut = bytes.slice(0, Math.floor(keep));
      await expect(read('random', 'cut.bin', cut)).rejects.toThrow(/cut\.bin: not a complete zip archive.*truncated/);
      await expect(read('stream', 'cut.bin', cut)).rejects.toThrow(/cut\.bin: (the file ends at byte|.*missing from the archive)/);
    }
  });

  it('a corrupted storage fails its CRC as it streams, naming the entry', async () => {
    const bytes = fixture('tiny-f32.bin');
    const wte = parseSafetensors(fixture('tiny-f32.expected.safetensors')).tensors.get('transformer.wte.weight')!;
    const at = Buffer.from(bytes).indexOf(Buffer.from(wte.data.subarray(0, 16)));
    expect(at).toBeGreaterThan(0);
    bytes[at + 100] ^= 0x40;
    for (const mode of ['random', 'stream'] as const) {
      await expect(read(mode, 'flip.bin', bytes)).rejects.toThrow(/flip\.bin: entry "tiny-f32\/data\/0" fails its CRC-32 check/);
    }
  });

  it('a corrupted pickle fails its CRC before it is parsed', async () => {
    const bytes = fixture('tiny-f32.bin');
    bytes[Buffer.from(bytes).indexOf(Buffer.from('collections\nOrderedDict'))] = 0x41;
    for (const mode of ['random', 'stream'] as const) {
      await expect(read(mode, 'p.bin', bytes)).rejects.toThrow(/p\.bin: entry "tiny-f32\/data\.pkl" fails its CRC-32 check/);
    }
  });

  it('a stream reads each byte once and holds no storage whole (chunks come through as they arrive)', async () => {
    const bytes = fixture('tiny-f32.bin');
    const sink = new RecordingSink();
    let biggest = 0;
    const data = sink.data.bind(sink);
    sink.data = (name, at, b) => ((biggest = Math.max(biggest, b.length)), data(name, at, b));
    await readTorchCheckpoint(streamCursor('f.bin', chunkedStream(bytes, [1000])), sink);
    sink.complete();
    expect(biggest).toBeLessThanOrEqual(1000);
  });

  describe('hostile or odd state dicts (archives built here)', () => {
    /** A zip of STORED entries with sizes in the local headers, as Python's zipfile writes to a file. */
    function makeZip(entries: Array<[string, Uint8Array]>): Uint8Array {
      const parts: number[] = [];
      const central: number[] = [];
      const u16 = (a: number[], v: number) => a.push(v & 0xff, v >>> 8);
      const u32 = (a: number[], v: number) => a.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
      for (const [name, data] of entries) {
        const offset = parts.length;
        const nameBytes = [...new TextEncoder().encode(name)];
        const crc = crc32(data);
        u32(parts, 0x04034b50), u16(parts, 20), u16(parts, 0x800), u16(parts, 0), u32(parts, 0), u32(parts, crc);
        u32(parts, data.length), u32(parts, data.length), u16(parts, nameBytes.length), u16(parts, 0);
        parts.push(...nameBytes, ...data);
        u32(central, 0x02014b50), u16(central, 20), u16(central, 20), u16(central, 0x800), u16(central, 0), u32(central, 0);
        u32(central, crc), u32(central, data.length), u32(central, data.length), u16(central, nameBytes.length);
        u16(central, 0), u16(central, 0), u16(central, 0), u16(central, 0), u32(central, 0), u32(central, offset);
        central.push(...nameBytes);
      }
      const cdOffset = parts.length;
      parts.push(...central);
      u32(parts, 0x06054b50), u16(parts, 0), u16(parts, 0), u16(parts, entries.length), u16(parts, entries.length);
      u32(parts, central.length), u32(parts, cdOffset), u16(parts, 0);
      return new Uint8Array(parts);
    }
    const latin1 = (t: string) => [...Buffer.from(t, 'latin1')];
    const str = (t: string) => [0x58, ...new Uint8Array(new Uint32Array([t.length]).buffer), ...latin1(t)];
    const int = (v: number) => [0x4a, ...new Uint8Array(new Int32Array([v]).buffer)];
    const tuple = (items: number[][]) => [0x28, ...items.flat(), 0x74];
    /** {name: tensor} over FloatStorage "key" of `numel` elements. */
    function statePickle(tensors: Array<{ name: string; key: string; numel: number; offset: number; shape: number[]; stride: number[] }>, extra: number[] = []): Uint8Array {
      const body: number[] = [0x80, 2, 0x7d];
      for (const t of tensors) {
        const storage = [...tuple([str('storage'), [0x63, ...latin1('torch\nFloatStorage\n')], str(t.key), str('cpu'), int(t.numel)]), 0x51];
        body.push(...str(t.name), 0x63, ...latin1('torch._utils\n_rebuild_tensor_v2\n'));
        body.push(...tuple([storage, int(t.offset), tuple(t.shape.map(int)), tuple(t.stride.map(int))]), 0x52, 0x73);
      }
      body.push(...extra, 0x2e);
      return new Uint8Array(body);
    }
    const f32 = (n: number) => new Uint8Array(new Float32Array(n).map((_, i) => i).buffer);
    const both = async (name: string, zip: Uint8Array, message: RegExp) => {
      for (const mode of ['random', 'stream'] as const) await expect(read(mode, name, zip)).rejects.toThrow(message);
    };

    it('a transposed view over a zip built here reads right, both ways', async () => {
      const pkl = statePickle([{ name: 'w', key: '0', numel: 6, offset: 0, shape: [3, 2], stride: [1, 3] }]);
      const zip = makeZip([['a/data.pkl', pkl], ['a/byteorder', new TextEncoder().encode('little')], ['a/data/0', f32(6)]]);
      for (const mode of ['random', 'stream'] as const) {
        const sink = await read(mode, 'm.bin', zip);
        expect([...new Float32Array(sink.bytes.get('w')!.buffer)]).toEqual([0, 3, 1, 4, 2, 5]);
      }
    });

    it('an overlapping view (a huge tensor over a tiny storage) is refused', async () => {
      const pkl = statePickle([{ name: 'w', key: '0', numel: 4, offset: 0, shape: [1 << 30, 4], stride: [0, 1] }]);
      await both('o.bin', makeZip([['a/data.pkl', pkl], ['a/data/0', f32(4)]]), /o\.bin: tensor "w": its view has 4294967296 elements but its storage only 4/);
    });

    it('a view past its storage, a missing storage, a storage of the wrong size', async () => {
      const past = statePickle([{ name: 'w', key: '0', numel: 4, offset: 2, shape: [4], stride: [1] }]);
      await both('p.bin', makeZip([['a/data.pkl', past], ['a/data/0', f32(4)]]), /p\.bin: tensor "w": its view \(offset 2, shape \(4\), stride \(1\)\) reaches element 5 of a storage of 4/);
      const ok = statePickle([{ name: 'w', key: '0', numel: 4, offset: 0, shape: [4], stride: [1] }]);
      await both('m.bin', makeZip([['a/data.pkl', ok]]), /m\.bin: storage "a\/data\/0" of tensor "w" is missing from the archive/);
      await both('s.bin', makeZip([['a/data.pkl', ok], ['a/data/0', f32(3)]]), /s\.bin: (storage entry "a\/data\/0" has 12 bytes, data\.pkl says 16|entry "a\/data\/0" has 12 bytes, expected 16)/);
    });

    it('long names in the pickle and the archive are quoted as bounded excerpts that still name the problem', async () => {
      const longName = 'transformer.h.0.' + 'x'.repeat(50_000) + '.weight';
      const expectBounded = async (name: string, zip: Uint8Array, problem: RegExp) => {
        for (const mode of ['random', 'stream'] as const) {
          const message = await read(mode, name, zip).then(() => '', (e: unknown) => (e as Error).message);
          expect(message).toMatch(problem);
          expect(message.length).toBeLessThan(500);
        }
      };
      // A tensor name of 50,023 characters whose view runs past its storage.
      const past = statePickle([{ name: longName, key: '0', numel: 4, offset: 2, shape: [4], stride: [1] }]);
      await expectBounded('t.bin', makeZip([['a/data.pkl', past], ['a/data/0', f32(4)]]), /^t\.bin: tensor "transformer\.h\.0\.x+…\(50023 characters\)…x*\.weight": its view \(offset 2/);
      // A storage key of 50,000 characters that is missing from the archive.
      const missing = statePickle([{ name: 'w', key: 'k'.repeat(50_000), numel: 4, offset: 0, shape: [4], stride: [1] }]);
      await expectBounded('k.bin', makeZip([['a/data.pkl', missing]]), /^k\.bin: storage "a\/data\/k+…\(50007 characters\)…k+" of tensor "w" is missing from the archive/);
      // A global of 40,000 characters the pickle asks to call.
      const evil = new Uint8Array([0x80, 2, 0x63, ...latin1('m'.repeat(40_000) + '\nsystem\n'), 0x29, 0x52, 0x2e]);
      await expectBounded('g.bin', makeZip([['a/data.pkl', evil]]), /^g\.bin: a\/data\.pkl: refusing to call m+…\(40007 characters\)…m*\.system — /);
    });

    it('deep nesting inside a checkpoint is an Error, not a RangeError', async () => {
      // {'x': ((((…(None)…))))} 5,000 tuples deep.
      const deep = [...str('x'), ...new Array<number>(5000).fill(0x28), 0x4e, ...new Array<number>(5000).fill(0x74), 0x73];
      const pkl = statePickle([], deep);
      for (const mode of ['random', 'stream'] as const) {
        const error = await read(mode, 'd.bin', makeZip([['a/data.pkl', pkl]])).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect(error).not.toBeInstanceOf(RangeError);
        expect((error as Error).message).toMatch(/d\.bin: a\/data\.pkl: containers nested deeper than 256 levels/);
      }
    });

    it('big-endian storages, a storage before data.pkl in a stream, no data.pkl', async () => {
      const ok = statePickle([{ name: 'w', key: '0', numel: 4, offset: 0, shape: [4], stride: [1] }]);
      await both('b.bin', makeZip([['a/data.pkl', ok], ['a/byteorder', new TextEncoder().encode('big')], ['a/data/0', f32(4)]]), /b\.bin: tensors are stored "big"-endian; only little-endian/);
      const first = makeZip([['a/data/0', f32(4)], ['a/data.pkl', ok]]);
      expect((await read('random', 'f.bin', first)).bytes.get('w')!.length).toBe(16);
      await expect(read('stream', 'f.bin', first)).rejects.toThrow(/f\.bin: storage "a\/data\/0" comes before data\.pkl.*Range support/);
      await both('n.bin', makeZip([['a/version', new TextEncoder().encode('3\n')]]), /n\.bin: (expected one "<root>\/data\.pkl" in the archive, found 0|no "<root>\/data\.pkl" in the archive)/);
    });
  });
});

