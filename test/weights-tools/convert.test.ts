import { describe, it, expect, afterAll } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, tensorToFloat32, writeSafetensors, type SafetensorsDType } from '../../src/safetensors';
import { float32ArrayToFloat16 } from '../../src/f16';
import { ImageGPT } from '../../src/model/imagegpt';
import { convertModel } from '../../weights-tools/convert';
import { main } from '../../weights-tools/cli';
import { getTestDevice } from '../helpers/gpu';
import { relError } from '../helpers/fixtures';
import { referenceForward } from '../reference/model';
import { parseImageGPTConfig } from '../../src/model/config';

const FIXTURES = join(__dirname, '..', 'fixtures', 'torch');
const tmp = mkdtempSync(join(tmpdir(), 'convert-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MASK = /\.attn\.(bias|masked_bias)$/;
const expectedOf = (name: string) => parseSafetensors(readFileSync(join(FIXTURES, `${name}.expected.safetensors`))).tensors;
const reference = expectedOf('tiny-f32');
const weightNames = [...reference.keys()].filter((n) => !MASK.test(n));
let dirs = 0;

/** An HF-style folder: the fixture JSON files and one weights file under its hub name. */
function hfFolder(weights: { bin: string } | { safetensors: Uint8Array }, edit?: { config?: object; preprocessor?: object }): string {
  const dir = join(tmp, `hf-${dirs++}`);
  mkdirSync(dir);
  const config = JSON.parse(readFileSync(join(FIXTURES, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...edit?.config }));
  if (edit?.preprocessor) writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(edit.preprocessor));
  else copyFileSync(join(FIXTURES, 'preprocessor_config.json'), join(dir, 'preprocessor_config.json'));
  if ('bin' in weights) copyFileSync(join(FIXTURES, `${weights.bin}.bin`), join(dir, 'pytorch_model.bin'));
  else writeFileSync(join(dir, 'model.safetensors'), weights.safetensors);
  return dir;
}

async function convert(dir: string, dtype: 'f16' | 'f32') {
  const out = join(tmp, `out-${dirs++}`);
  const report = await convertModel(dir, out, { dtype });
  const bytes = new Uint8Array(readFileSync(join(out, 'model.safetensors')));
  return { out, report, bytes, file: parseSafetensors(bytes) };
}

describe('convert', () => {
  it('f32 .bin → f32: every weight exact, masks dropped, JSON copied', async () => {
    const dir = hfFolder({ bin: 'tiny-f32' });
    const { out, report, file } = await convert(dir, 'f32');
    expect([...file.tensors.keys()]).toEqual(weightNames);
    expect(report.dropped).toEqual([...reference.keys()].filter((n) => MASK.test(n)));
    expect(report.parameters).toBe(23168);
    expect(file.metadata).toEqual({ format: 'pt' });
    for (const name of weightNames) {
      const t = file.tensors.get(name)!;
      expect(t.dtype).toBe('F32');
      expect(t.shape).toEqual(reference.get(name)!.shape);
      expect([...t.data]).toEqual([...reference.get(name)!.data]);
    }
    for (const json of ['config.json', 'preprocessor_config.json']) {
      expect(readFileSync(join(out, json), 'utf8')).toBe(readFileSync(join(dir, json), 'utf8'));
    }
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'preprocessor_config.json']);
  });

  it('f32 .bin → f16: rounded to nearest, within half an f16 ulp', async () => {
    const { file } = await convert(hfFolder({ bin: 'tiny-f32' }), 'f16');
    for (const name of weightNames) {
      const t = file.tensors.get(name)!;
      expect(t.dtype).toBe('F16');
      const source = tensorToFloat32(reference.get(name)!);
      const half = tensorToFloat32(t);
      expect([...new Uint16Array(t.data.slice().buffer)]).toEqual([...float32ArrayToFloat16(source)]);
      for (let i = 0; i < source.length; i++) {
        expect(Math.abs(half[i] - source[i])).toBeLessThanOrEqual(Math.max(Math.abs(source[i]) * 2 ** -11, 2 ** -25));
      }
    }
  });

  it('f16 .bin → f16 keeps the bits; bf16 and strided/shared-storage .bin → f32 exact', async () => {
    const f16 = expectedOf('tiny-f16');
    const { file } = await convert(hfFolder({ bin: 'tiny-f16' }), 'f16');
    for (const name of weightNames) {
      expect([...float32ArrayToFloat16(tensorToFloat32(f16.get(name)!))]).toEqual([...new Uint16Array(file.tensors.get(name)!.data.slice().buffer)]);
    }
    const bf16 = expectedOf('tiny-bf16');
    const fromBf16 = (await convert(hfFolder({ bin: 'tiny-bf16' }), 'f32')).file;
    for (const name of weightNames) expect(tensorToFloat32(fromBf16.tensors.get(name)!)).toEqual(tensorToFloat32(bf16.get(name)!));
    const fromViews = (await convert(hfFolder({ bin: 'tiny-views' }), 'f32')).bytes;
    const fromF32 = (await convert(hfFolder({ bin: 'tiny-f32' }), 'f32')).bytes;
    expect(Buffer.compare(fromViews, fromF32)).toBe(0);
  });

  it('model.safetensors source converts to the same file as the .bin', async () => {
    const tensors = [...reference.values()].map((t) => ({ name: t.name, dtype: t.dtype as SafetensorsDType, shape: t.shape, data: t.data }));
    const { bytes } = await convert(hfFolder({ safetensors: writeSafetensors(tensors, { format: 'pt' }) }), 'f16');
    const fromBin = (await convert(hfFolder({ bin: 'tiny-f32' }), 'f16')).bytes;
    expect(Buffer.compare(bytes, fromBin)).toBe(0);
  });

  it('a classifier checkpoint (score.weight, no lm_head) converts too', async () => {
    const classifier = join(__dirname, '..', 'fixtures', 'classifier');
    const dir = join(tmp, 'classifier');
    mkdirSync(dir);
    copyFileSync(join(classifier, 'config.json'), join(dir, 'config.json'));
    copyFileSync(join(classifier, 'model.safetensors'), join(dir, 'model.safetensors'));
    copyFileSync(join(FIXTURES, 'preprocessor_config.json'), join(dir, 'preprocessor_config.json'));
    const source = parseSafetensors(readFileSync(join(dir, 'model.safetensors'))).tensors;
    const { file } = await convert(dir, 'f32');
    expect(file.tensors.get('score.weight')!.shape).toEqual([5, 48]);
    expect(file.tensors.has('lm_head.weight')).toBe(false);
    for (const [name, t] of file.tensors) expect([...t.data]).toEqual([...source.get(name)!.data]);
    expect(file.tensors.size).toBe([...source.keys()].filter((n) => !MASK.test(n)).length);
  });

  it('errors: tensors that do not fit config.json, bad clusters, truncated safetensors, no weights', async () => {
    await expect(convert(hfFolder({ bin: 'tiny-f32' }, { config: { n_layer: 3 } }), 'f16')).rejects.toThrow(
      /missing 10 tensor\(s\) config.json implies: transformer\.h\.2\.ln_1\.weight/,
    );
    await expect(convert(hfFolder({ bin: 'tiny-f32' }, { config: { n_positions: 32 } }), 'f16')).rejects.toThrow(
      /tensor "transformer\.wpe\.weight" has shape \[16, 16\], config.json implies \[32, 16\]/,
    );
    await expect(convert(hfFolder({ bin: 'tiny-f32' }, { config: { n_layer: 1 } }), 'f16')).rejects.toThrow(
      /unexpected tensor "transformer\.h\.1\.ln_1\.weight"/,
    );
    const clusters = JSON.parse(readFileSync(join(FIXTURES, 'preprocessor_config.json'), 'utf8')).clusters as number[][];
    await expect(convert(hfFolder({ bin: 'tiny-f32' }, { preprocessor: { clusters: clusters.slice(1) } }), 'f16')).rejects.toThrow(
      /511 clusters, but config.json's vocab_size 513 means 512 colors/,
    );
    await expect(convert(hfFolder({ bin: 'tiny-f32' }, { preprocessor: { clusters: [[2, 0, 0], ...clusters.slice(1)] } }), 'f16')).rejects.toThrow(
      /cluster 0 is \[2,0,0\], expected three numbers in \[-1, 1\]/,
    );
    const whole = writeSafetensors([...reference.values()].map((t) => ({ ...t, dtype: t.dtype as SafetensorsDType })));
    const cut = hfFolder({ safetensors: whole.subarray(0, whole.length - 10) });
    await expect(convert(cut, 'f32')).rejects.toThrow(/model\.safetensors: safetensors: tensor ".*": data ends at byte \d+ of the file, which has only/);
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    copyFileSync(join(FIXTURES, 'config.json'), join(empty, 'config.json'));
    copyFileSync(join(FIXTURES, 'preprocessor_config.json'), join(empty, 'preprocessor_config.json'));
    await expect(convertModel(empty, join(tmp, 'never'), {})).rejects.toThrow(/no model\.safetensors or pytorch_model\.bin/);
  });

  it('a failure mid-write leaves no partial model.safetensors', async () => {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, 'tiny-f32.bin')));
    const lm = reference.get('lm_head.weight')!;
    bytes[Buffer.from(bytes).indexOf(Buffer.from(lm.data.subarray(0, 16))) + 8] ^= 1; // lm_head is written last
    const dir = hfFolder({ bin: 'tiny-f32' });
    writeFileSync(join(dir, 'pytorch_model.bin'), bytes);
    const out = join(tmp, 'partial-out');
    await expect(convertModel(dir, out, { dtype: 'f16' })).rejects.toThrow(/fails its CRC-32 check/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });
});

describe('cli', () => {
  it('inspect lists tensors and counts parameters, for .bin and .safetensors', async () => {
    const lines: string[] = [];
    expect(await main(['inspect', join(FIXTURES, 'tiny-f16.bin')], (s) => lines.push(s))).toBe(0);
    expect(lines[0]).toMatch(/tiny-f16\.bin \(torch, 28 tensors\)/);
    expect(lines).toContain('  transformer.h.0.attn.bias           BOOL  [1, 1, 16, 16]');
    expect(lines).toContain('  lm_head.weight                      F16   [512, 16]');
    expect(lines.at(-1)).toMatch(/^total parameters: 23,168 \(0\.02 M\), plus 514 elements of attn\.bias\/masked_bias buffers/);
    lines.length = 0;
    expect(await main(['inspect', join(FIXTURES, 'tiny-f32.expected.safetensors')], (s) => lines.push(s))).toBe(0);
    expect(lines[0]).toMatch(/\(safetensors, 28 tensors\)/);
  });

  it('convert writes the folder; bad arguments give a message and a non-zero status', async () => {
    const out = join(tmp, 'cli-out');
    const lines: string[] = [];
    const errors: string[] = [];
    const error = console.error;
    console.error = (s: string) => errors.push(s);
    try {
      expect(await main(['convert', hfFolder({ bin: 'tiny-f32' }), '--out', out, '--dtype', 'f32'], (s) => lines.push(s))).toBe(0);
      expect(lines[0]).toMatch(/24 tensors, 0\.02 M parameters, f32/);
      expect(parseSafetensors(readFileSync(join(out, 'model.safetensors'))).tensors.size).toBe(24);
      expect(await main(['convert', out], () => undefined)).toBe(1);
      expect(errors.at(-1)).toMatch(/convert needs --out <dir>/);
      expect(await main(['convert', out, '--out', out, '--dtype', 'f8'], () => undefined)).toBe(1);
      expect(errors.at(-1)).toMatch(/--dtype must be f16 or f32/);
    } finally {
      console.error = error;
    }
  });
});

describe('converted checkpoints run in the runtime', () => {
  const expected = parseSafetensors(readFileSync(join(FIXTURES, 'logits.safetensors'))).tensors;
  const ids = Array.from(new Int32Array(expected.get('input_ids')!.data.slice().buffer));
  const [B, T] = expected.get('input_ids')!.shape;
  const inputIds = Array.from({ length: B }, (_, b) => ids.slice(b * T, (b + 1) * T));
  const logits = tensorToFloat32(expected.get('logits')!);

  it.each([
    ['f32', 1e-5],
    ['f16', 2e-2],
  ] as const)('%s output, in the CPU reference forward, gives the logits of the f32 source (torch, float64)', async (dtype, tol) => {
    const { out, file } = await convert(hfFolder({ bin: 'tiny-f32' }), dtype);
    const config = parseImageGPTConfig(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')));
    const weights = new Map([...file.tensors].map(([name, t]) => [name, tensorToFloat32(t)]));
    expect(relError(referenceForward(config, weights, inputIds).logits, logits)).toBeLessThan(tol);
  });

  it.each([
    ['f32', 1e-4],
    ['f16', 2e-2],
  ] as const)('%s output loads in ImageGPT.fromPretrained (WebGPU) and gives the logits of the f32 source', async (dtype, tol) => {
    const { out } = await convert(hfFolder({ bin: 'tiny-f32' }), dtype);
    const device = await getTestDevice();
    const model = await ImageGPT.fromPretrained(
      { config: JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')), weights: readFileSync(join(out, 'model.safetensors')) },
      { device, dtype },
    );
    try {
      const result = await model.forward(inputIds);
      expect(result.logits.length).toBe(logits.length);
      expect(relError(result.logits, logits)).toBeLessThan(tol);
    } finally {
      model.dispose();
    }
  });
});
