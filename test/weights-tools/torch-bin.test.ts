import { describe, it, expect, afterAll } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, tensorToFloat32, type SafetensorsTensor } from '../../src/safetensors';
import { openCheckpoint } from '../../weights-tools/checkpoint';

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
