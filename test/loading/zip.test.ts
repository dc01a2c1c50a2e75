import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZipReader, crc32 } from '../../src/loading/zip';
import { memoryCursor, streamCursor } from '../../src/loading/cursor';
import { zipSync } from 'fflate';
import { chunkedStream } from './chunked';

const FIXTURES = join(__dirname, '..', 'fixtures', 'torch');
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));

/** Where the records of a zip (with no archive comment) lie, to damage them on purpose. */
function layout(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = bytes.length - 22;
  expect(v.getUint32(eocd, true)).toBe(0x06054b50);
  const zip64Record = v.getUint32(eocd - 20, true) === 0x07064b50 ? Number(v.getBigUint64(eocd - 20 + 8, true)) : -1;
  const cdOffset = zip64Record >= 0 ? Number(v.getBigUint64(zip64Record + 48, true)) : v.getUint32(eocd + 16, true);
  const central: number[] = [];
  for (let p = cdOffset; v.getUint32(p, true) === 0x02014b50; ) {
    central.push(p);
    p += 46 + v.getUint16(p + 28, true) + v.getUint16(p + 30, true) + v.getUint16(p + 32, true);
  }
  return { v, eocd, zip64Record, cdOffset, central };
}

async function readAll(bytes: Uint8Array, mode: 'random' | 'stream', name = 'z.bin'): Promise<Map<string, Uint8Array>> {
  const cursor = mode === 'random' ? memoryCursor(name, bytes) : streamCursor(name, chunkedStream(bytes, [1, 7, 4093]));
  const zip = await ZipReader.open(cursor);
  const out = new Map<string, Uint8Array>();
  for (let e = await zip.next(); e; e = await zip.next()) out.set(e.name, await zip.read(e, 1 << 20));
  return out;
}

describe('zip reader', () => {
  it.each(['tiny-f32.bin', 'tiny-zip64.bin', 'tiny-deflated.bin'])('%s: a front-to-back read finds every entry a random read does', async (name) => {
    const bytes = fixture(name);
    const random = await readAll(bytes, 'random');
    const stream = await readAll(bytes, 'stream');
    expect([...stream.keys()]).toEqual([...random.keys()]);
    for (const [k, data] of random) expect(crc32(stream.get(k)!)).toBe(crc32(data));
    expect(random.size).toBe(30);
  });

  it('crc32 is the standard one, also in pieces', () => {
    const data = new TextEncoder().encode('123456789');
    expect(crc32(data)).toBe(0xcbf43926);
    expect(crc32(data.subarray(4), crc32(data.subarray(0, 4)))).toBe(0xcbf43926);
  });

  describe('hostile or damaged archives give clear errors (random mode)', () => {
    const open = (bytes: Uint8Array) => ZipReader.open(memoryCursor('bad.zip', bytes));

    it('a central-directory extra field that runs past the directory', async () => {
      const bytes = fixture('tiny-f32.bin');
      const { v, central } = layout(bytes);
      v.setUint16(central[central.length - 1] + 30, 300, true);
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: central directory: central directory entry 29 .*extra field at byte \d+ runs past its \d+ bytes/);
    });

    it('an extra sub-field longer than the extra data, or a zip64 field too short for its values', async () => {
      let bytes = fixture('tiny-zip64.bin');
      let { v, central } = layout(bytes);
      const p = central[1];
      const extraAt = p + 46 + v.getUint16(p + 28, true);
      expect(v.getUint16(extraAt, true)).toBe(1);
      v.setUint16(extraAt + 2, 4000, true);
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: central directory entry 1 .*extra field 0x1 of 4000 bytes runs past the extra data/);
      bytes = fixture('tiny-zip64.bin');
      ({ v, central } = layout(bytes));
      v.setUint16(extraAt + 2, 0, true); // sizes say "see zip64", which now holds nothing
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: central directory entry 1 .*zip64 extra field: size at byte 0 runs past its 0 bytes/);
    });

    it('an entry count the directory cannot hold', async () => {
      const bytes = fixture('tiny-f32.bin');
      const { v, eocd, zip64Record } = layout(bytes);
      if (zip64Record >= 0) v.setBigUint64(zip64Record + 32, 0xfff0n, true);
      else v.setUint16(eocd + 10, 0xfff0, true);
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: not a complete zip archive \(65520 entries cannot fit in a central directory of \d+ bytes\)/);
    });

    it('a name length past the directory', async () => {
      const bytes = fixture('tiny-f32.bin');
      const { v, central } = layout(bytes);
      v.setUint16(central[central.length - 1] + 28, 0xffff, true);
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: central directory: central directory entry 29 .*name at byte \d+ runs past/);
    });

    it('zip64 values beyond 2^53', async () => {
      const bytes = fixture('tiny-zip64.bin');
      const { v, zip64Record } = layout(bytes);
      v.setUint32(zip64Record + 32 + 4, 0xffffffff, true); // entry count, high word
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: zip64 end of central directory: entry count is \d+, beyond 2\^53/);
    });

    it('overlapping entries', async () => {
      const bytes = fixture('tiny-f32.bin');
      const { v, central } = layout(bytes);
      v.setUint32(central[2] + 42, v.getUint32(central[1] + 42, true) + 10, true);
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: entries "tiny-f32\/data\/\d+" \(at byte \d+\) and "tiny-f32\/data\/\d+" \(at byte \d+\) overlap/);
    });

    it('an entry past the end of the data, and a directory past the end of the file', async () => {
      let bytes = fixture('tiny-f32.bin');
      let { v, central, eocd } = layout(bytes);
      v.setUint32(central[3] + 20, 0x7fffffff, true);
      v.setUint32(central[3] + 24, 0x7fffffff, true);
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: entry "tiny-f32\/data\/10" \[\d+, \d+\) runs past the start of the central directory/);
      bytes = fixture('tiny-f32.bin');
      let zip64Record: number;
      ({ v, eocd, zip64Record } = layout(bytes));
      if (zip64Record >= 0) v.setBigUint64(zip64Record + 48, BigInt(bytes.length - 10), true);
      else v.setUint32(eocd + 16, bytes.length - 10, true);
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: not a complete zip archive \(central directory \[\d+, \d+\) runs past byte \d+/);
    });

    it('an entry listed twice, a local header naming another entry, an unknown method', async () => {
      let bytes = fixture('tiny-f32.bin');
      let { v, central } = layout(bytes);
      // Entry 2 ("tiny-f32/data/1") renamed as entry 1 ("tiny-f32/data/0"), same length.
      expect(v.getUint16(central[1] + 28, true)).toBe(v.getUint16(central[2] + 28, true));
      bytes.set(bytes.slice(central[1] + 46, central[1] + 46 + v.getUint16(central[1] + 28, true)), central[2] + 46);
      await expect(open(bytes)).rejects.toThrow(/bad\.zip: the archive lists entry "tiny-f32\/data\/0" twice/);

      bytes = fixture('tiny-f32.bin');
      ({ v, central } = layout(bytes));
      const local = v.getUint32(central[3] + 42, true);
      bytes[local + 30 + 'tiny-f32/data/'.length] = '9'.charCodeAt(0); // "data/10" → "data/90"
      const zip = await open(bytes);
      const e = zip.entry('tiny-f32/data/10')!;
      await expect(zip.read(e, 1 << 20)).rejects.toThrow(/bad\.zip: the local header at byte \d+ names "tiny-f32\/data\/90", the central directory "tiny-f32\/data\/10"/);

      bytes = fixture('tiny-f32.bin');
      ({ v, central } = layout(bytes));
      v.setUint16(central[3] + 10, 12, true);
      const z2 = await open(bytes);
      await expect(z2.read(z2.entry('tiny-f32/data/10')!, 1 << 20)).rejects.toThrow(/bad\.zip: entry "tiny-f32\/data\/10" uses compression method 12; only stored \(0\) and deflate \(8\)/);
    });

    it('a file too short, or with no end record', async () => {
      await expect(open(fixture('tiny-f32.bin').slice(0, 21))).rejects.toThrow(/bad\.zip: not a complete zip archive \(only 21 bytes\)/);
      await expect(open(fixture('tiny-f32.bin').slice(0, 5000))).rejects.toThrow(/bad\.zip: not a complete zip archive \(no end-of-central-directory record\)/);
      await expect(open(new Uint8Array(100))).rejects.toThrow(/bad\.zip: not a zip archive/);
    });

    it('refusing a hostile count takes no time (no loop over a claimed count)', async () => {
      const bytes = fixture('tiny-zip64.bin');
      const { v, zip64Record } = layout(bytes);
      v.setUint32(zip64Record + 32, 0xffffffff, true);
      v.setUint32(zip64Record + 36, 0x1fffff, true);
      const t0 = performance.now();
      await expect(open(bytes)).rejects.toThrow(/cannot fit in a central directory/);
      expect(performance.now() - t0).toBeLessThan(1000);
    });
  });

  it('damaged deflate data is an error naming the entry, both ways', async () => {
    const bytes = fixture('tiny-deflated.bin');
    const { v, central } = layout(bytes);
    const local = v.getUint32(central[1] + 42, true);
    const data = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    for (let i = 0; i < 64; i++) bytes[data + 200 + i] ^= 0x5a;
    for (const mode of ['random', 'stream'] as const) {
      await expect(readAll(bytes, mode, 'def.bin')).rejects.toThrow(/def\.bin: entry "tiny-f16\/data\/0" (is not valid deflate data|fails its CRC-32 check|inflates to more than|has \d+ bytes, its header says)/);
    }
    // Its compressed size cut short in the directory: the inflater runs out.
    const cut = fixture('tiny-deflated.bin');
    const c = layout(cut);
    c.v.setUint32(c.central[1] + 20, c.v.getUint32(c.central[1] + 20, true) - 100, true);
    await expect(readAll(cut, 'random', 'cut.bin')).rejects.toThrow(/cut\.bin: entry "tiny-f16\/data\/0" (is not valid deflate data|: its deflate data ends early|has \d+ bytes, its header says)/);
  });

  describe('a hostile entry name is quoted in a bounded excerpt, never whole', () => {
    // The field report's archive: a 60,135-character entry name made a 60,135+-character message.
    const long = (c: string) => c.repeat(60_126) + '/data.pkl';
    const data = new TextEncoder().encode('payload bytes');
    const archive = () => zipSync({ [long('a')]: [data, { level: 0 }], [long('b')]: [data, { level: 0 }] });
    /** Every message: names the problem, shows the name's start and end and its length, and stays short. */
    const bounded = (message: string, problem: RegExp) => {
      expect(message).toMatch(problem);
      expect(message).toMatch(/"a{20,}…\(60135 characters\)…a+\/data\.pkl"/);
      expect(message.length).toBeLessThan(400);
    };
    const failure = async (bytes: Uint8Array, mode: 'random' | 'stream') =>
      readAll(bytes, mode, 'long.bin').then(
        () => { throw new Error('expected a refusal'); },
        (e: unknown) => (e as Error).message,
      );

    it('a wrong CRC, in both modes', async () => {
      const bytes = archive();
      expect(long('a').length).toBe(60_135);
      bytes[bytes.indexOf(data[0], 30 + 60_135)] ^= 1; // the first entry's first data byte
      for (const mode of ['random', 'stream'] as const) bounded(await failure(bytes, mode), /^long\.bin: entry ".*" fails its CRC-32 check/);
    });

    it('an entry larger than allowed, an entry listed twice, a local header naming another entry', async () => {
      const zip = await ZipReader.open(memoryCursor('long.bin', archive()));
      const first = zip.directory![0];
      bounded(await zip.read(first, 4).then(() => '', (e: unknown) => (e as Error).message), /^long\.bin: entry ".*" has 13 bytes, more than the 4 expected of it$/);

      const twice = archive();
      const { central } = layout(twice);
      twice.set(new TextEncoder().encode(long('a')), central[1] + 46); // the second name becomes the first
      bounded(await ZipReader.open(memoryCursor('long.bin', twice)).then(() => '', (e: unknown) => (e as Error).message), /^long\.bin: the archive lists entry ".*" twice/);

      const renamed = archive();
      renamed[30] = 'c'.charCodeAt(0); // the first local header's name
      const message = await readAll(renamed, 'random', 'long.bin').then(() => '', (e: unknown) => (e as Error).message);
      expect(message).toMatch(/^long\.bin: the local header at byte 0 names "ca+…\(60135 characters\)…a+\/data\.pkl", /);
      bounded(message, /the central directory ".*" \(corrupt zip\)$/);
    });
  });

  describe('front-to-back reads', () => {
    it('a deflated entry whose sizes are deferred to a data descriptor is refused clearly', async () => {
      const bytes = fixture('tiny-deflated.bin');
      const v = new DataView(bytes.buffer);
      v.setUint16(6, v.getUint16(6, true) | 8, true);
      for (const at of [14, 18, 22]) v.setUint32(at, 0, true);
      const zip = await ZipReader.open(streamCursor('d.bin', chunkedStream(bytes, [100])));
      const e = (await zip.next())!;
      expect(e.size).toBeUndefined();
      await expect(zip.read(e, 1 << 20)).rejects.toThrow(/d\.bin: entry "tiny-f16\/data\.pkl" is compressed and its size is only given after its data.*Range support/);
    });

    it('an entry already passed cannot be read again', async () => {
      const zip = await ZipReader.open(streamCursor('s.bin', chunkedStream(fixture('tiny-f32.bin'), [4096])));
      const first = (await zip.next())!;
      await zip.next();
      await expect(zip.read(first, 1 << 20)).rejects.toThrow(/s\.bin: entry "tiny-f32\/data\.pkl" was passed by already/);
    });

    it('a storage whose size disagrees with what the caller expects', async () => {
      const zip = await ZipReader.open(streamCursor('s.bin', chunkedStream(fixture('tiny-f32.bin'), [4096])));
      await zip.next();
      const storage = (await zip.next())!;
      await expect(zip.pipe(storage, () => {}, 1000)).rejects.toThrow(/s\.bin: data descriptor of entry "tiny-f32\/data\/0" gives sizes 32832\/32832, but 1000\/1000 bytes were read|fails its CRC-32 check/);
    });

    it('bytes after the end record, or a cut end record, are errors', async () => {
      const bytes = fixture('tiny-f32.bin');
      const longer = new Uint8Array(bytes.length + 3);
      longer.set(bytes);
      await expect(readAll(longer, 'stream')).resolves.toBeDefined(); // size unknown: the stream's tail is not checked
      const zip = await ZipReader.open(streamCursor('t.bin', chunkedStream(longer, [4096]), longer.length));
      const go = async () => {
        while (await zip.next());
      };
      await expect(go()).rejects.toThrow(/t\.bin: 3 bytes follow the end of the zip archive/);
      await expect(readAll(bytes.slice(0, bytes.length - 5), 'stream', 'cut.bin')).rejects.toThrow(/cut\.bin: the file ends at byte \d+/);
    });
  });
});
