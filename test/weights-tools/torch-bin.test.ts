import { describe, it, expect, afterAll } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, tensorToFloat32, type SafetensorsTensor } from '../../src/safetensors';
import { openCheckpoint } from '../../weights-tools/checkpoint';
import { unpickle, PickleDict, PickleGlobal, type PickleHooks } from '../../weights-tools/pickle';
import { crc32 } from '../../weights-tools/zip';

const FIXTURES = join(__dirname, '..', 'fixtures', 'torch');
const tmp = mkdtempSync(join(tmpdir(), 'torch-bin-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const isFloat = (t: { dtype: string }) => ['F32', 'F16', 'BF16', 'F64'].includes(t.dtype);

describe('torch.save checkpoints read in TypeScript', () => {
  // tiny-deflated and tiny-zip64 are the same archives as tiny-f16 and tiny-f32, re-zipped (DEFLATE; zip64 records).
  const rezipped: Record<string, string> = { 'tiny-deflated': 'tiny-f16', 'tiny-zip64': 'tiny-f32' };
  it.each(['tiny-f32', 'tiny-f16', 'tiny-bf16', 'tiny-views', 'tiny-deflated', 'tiny-zip64'])('%s.bin equals what torch dumped', async (name) => {
    const dumped = rezipped[name] ?? name;
    const expected = parseSafetensors(readFileSync(join(FIXTURES, `${dumped}.expected.safetensors`))).tensors;
    const checkpoint = await openCheckpoint(join(FIXTURES, `${name}.bin`));
    try {
      expect(checkpoint.format).toBe('torch');
      // Same names in the state dict's order (the expected file was written in that order too).
      expect(checkpoint.tensors.map((t) => t.name)).toEqual([...expected.keys()].sort((a, b) =>
        expected.get(a)!.data.byteOffset - expected.get(b)!.data.byteOffset));
      for (const t of checkpoint.tensors) {
        const want = expected.get(t.name)!;
        const bytes = await t.read();
        // The Python dump writes 0-d tensors (masked_bias) as [1]; torch's own shape is [].
        expect(t.shape).toEqual(want.shape.length === 1 && want.shape[0] === 1 && t.shape.length === 0 ? [] : want.shape);
        const got: SafetensorsTensor = { name: t.name, dtype: t.dtype, shape: t.shape, data: bytes };
        if (isFloat(t)) expect(tensorToFloat32(got)).toEqual(tensorToFloat32(want));
        else expect([...bytes]).toEqual([...want.data]);
      }
      const dtypes = new Set(checkpoint.tensors.filter((t) => t.name.endsWith('.weight')).map((t) => t.dtype));
      expect([...dtypes]).toEqual([{ 'tiny-f32': 'F32', 'tiny-f16': 'F16', 'tiny-bf16': 'BF16', 'tiny-views': 'F32' }[dumped]]);
    } finally {
      await checkpoint.close();
    }
  });

  it('refuses a pickle that would run code, naming the callable', async () => {
    await expect(openCheckpoint(join(FIXTURES, 'evil.bin'))).rejects.toThrow(/refusing to call __builtin__\.print/);
  });

  it("refuses torch's legacy format clearly", async () => {
    await expect(openCheckpoint(join(FIXTURES, 'legacy.bin'))).rejects.toThrow(/legacy \(pre-1\.6\) checkpoint format/);
  });

  it('a truncated .bin is an error, whatever is cut', async () => {
    const bytes = readFileSync(join(FIXTURES, 'tiny-f32.bin'));
    for (const keep of [10, 1000, bytes.length / 2, bytes.length - 30]) {
      const path = join(tmp, `cut-${keep}.bin`);
      writeFileSync(path, bytes.subarray(0, Math.floor(keep)));
      await expect(openCheckpoint(path)).rejects.toThrow(/not a complete zip archive.*truncated/);
    }
  });

  it('a corrupted storage fails its CRC when read', async () => {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, 'tiny-f32.bin')));
    // Flip a byte inside the first storage (wte): find its data by the known first value.
    const wte = parseSafetensors(readFileSync(join(FIXTURES, 'tiny-f32.expected.safetensors'))).tensors.get('transformer.wte.weight')!;
    const at = Buffer.from(bytes).indexOf(Buffer.from(wte.data.subarray(0, 16)));
    expect(at).toBeGreaterThan(0);
    bytes[at + 100] ^= 0x40;
    const path = join(tmp, 'flipped.bin');
    writeFileSync(path, bytes);
    const checkpoint = await openCheckpoint(path);
    try {
      const t = checkpoint.tensors.find((x) => x.name === 'transformer.wte.weight')!;
      await expect(t.read()).rejects.toThrow(/"tiny-f32\/data\/0" fails its CRC-32 check/);
    } finally {
      await checkpoint.close();
    }
  });

  it('a corrupted pickle is an error', async () => {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, 'tiny-f32.bin')));
    const at = Buffer.from(bytes).indexOf(Buffer.from('collections\nOrderedDict'));
    bytes[at] = 0x41;
    const path = join(tmp, 'bad-pickle.bin');
    writeFileSync(path, bytes);
    await expect(openCheckpoint(path)).rejects.toThrow(/data\.pkl.*fails its CRC-32 check/);
  });

  it('reads a .bin whatever its file name (the archive root differs)', async () => {
    const path = join(tmp, 'pytorch_model.bin');
    copyFileSync(join(FIXTURES, 'tiny-f16.bin'), path);
    const checkpoint = await openCheckpoint(path);
    expect(checkpoint.tensors).toHaveLength(28);
    await checkpoint.close();
  });
});

describe('pickle reader', () => {
  const refuse: PickleHooks = {
    reduce: (c) => {
      throw new Error(`refused ${String(c)}`);
    },
    build: () => {
      throw new Error('refused build');
    },
    persistentLoad: () => {
      throw new Error('refused persistent id');
    },
  };
  const bytes = (...parts: Array<number | string>) =>
    new Uint8Array(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...Buffer.from(p, 'latin1')])));

  it('reads the value opcodes of protocols 2 and 4', () => {
    // {'a': (1, -2, 300, 70000, 2**40, -1.5, True, None, [b'xy'], 'é')} with FRAME and MEMOIZE
    const utf8 = [...Buffer.from('é')];
    const body = [
      0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, '}', 0x94, 0x8c, 1, 'a', 0x94, '(',
      'K', 1, 'J', 0xfe, 0xff, 0xff, 0xff, 'M', 0x2c, 0x01, 'J', 0x70, 0x11, 0x01, 0x00,
      0x8a, 6, 0, 0, 0, 0, 0, 1, 'G', 0xbf, 0xf8, 0, 0, 0, 0, 0, 0, 0x88, 'N',
      ']', 'C', 2, 'xy', 'a', 0x8c, utf8.length, ...utf8, 't', 0x94, 's',
    ];
    const v = unpickle(bytes(...body, '.'), refuse);
    expect(v).toBeInstanceOf(PickleDict);
    const tuple = (v as PickleDict).map.get('a') as unknown[];
    expect(tuple.slice(0, 8)).toEqual([1, -2, 300, 70000, 2 ** 40, -1.5, true, null]);
    expect([...(tuple[8] as Uint8Array[])[0]]).toEqual([120, 121]);
    expect(tuple[9]).toBe('é');
    // BINGET of memo 1 ('a') leaves two values behind.
    expect(() => unpickle(bytes(...body, 'h', 1, '.'), refuse)).toThrow(/ended with 2 values on the stack/);
  });

  it('names globals without calling them, and the hooks decide', () => {
    const data = bytes(0x80, 2, 'c', 'os\nsystem\n', 'X', 2, 0, 0, 0, 'ls', 0x85, 'R', '.');
    expect(() => unpickle(data, refuse)).toThrow(/refused os\.system/);
    const g = unpickle(bytes(0x80, 4, 0x8c, 1, 'm', 0x8c, 1, 'n', 0x93, '.'), refuse);
    expect(g).toBeInstanceOf(PickleGlobal);
    expect(String(g)).toBe('m.n');
  });

  it('refuses unknown opcodes and truncated input', () => {
    expect(() => unpickle(bytes(0x80, 2, 'i', 'os\nsystem\n', '.'), refuse, 'x.pkl')).toThrow(
      /x\.pkl: unsupported pickle opcode 0x69 'i'.*at byte 2/,
    );
    expect(() => unpickle(bytes(0x80, 2, 'X', 9, 0, 0, 0, 'ab'), refuse)).toThrow(/truncated: needs 9 more bytes/);
    expect(() => unpickle(bytes(0x80, 2, 'h', 3, '.'), refuse)).toThrow(/memo entry 3 is not defined/);
  });

  it('crc32 is the standard one', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});
