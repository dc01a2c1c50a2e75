// `npm run train` (weights-tools/train-cli.ts) in-process on the tiny 4×4 test model: PNG/JPEG folders and token
// files train a few steps and write a folder that ImageGPT.fromPretrained loads with changed weights; --resume
// continues bit for bit where an uninterrupted run would be; the schedule, the data order and the .npy reader on
// their own; and the refusals, each with its code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { zipSync } from 'fflate';
import { getTestDevice } from '../helpers/gpu';
import { ImageGPT } from '../../src/model/imagegpt';
import { ImageGPTImageProcessor } from '../../src/processor/index';
import { parseSafetensors, tensorToFloat32 } from '../../src/safetensors';
import { errorCode } from '../../src/errors';
import { convertModel } from '../../weights-tools/convert';
import { train, parseTrainArgs, type TrainResult } from '../../weights-tools/train-cli';
import { decodeImageFile, readTokenFile } from '../../weights-tools/train-data';
import { DataOrder, learningRate } from '../../weights-tools/train-schedule';
import { parseNpy } from '../../weights-tools/npy';

const TORCH_FIXTURES = join(__dirname, '..', 'fixtures', 'torch');
const tmp = mkdtempSync(join(tmpdir(), 'train-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let outs = 0;
const freshOut = () => join(tmp, `out-${outs++}`);

/** numpy's version-1 header: the dict, padded with spaces and a newline to a multiple of 64 bytes with the prefix. */
function npyHeader(dict: string): string {
  return dict.padEnd(Math.ceil((10 + dict.length + 1) / 64) * 64 - 10 - 1, ' ') + '\n';
}

/** A .npy of uint16 [rows, cols], as numpy writes it. */
function npyUint16(rows: number[][]): Uint8Array {
  const cols = rows[0].length;
  const header = npyHeader(`{'descr': '<u2', 'fortran_order': False, 'shape': (${rows.length}, ${cols}), }`);
  const out = new Uint8Array(10 + header.length + rows.length * cols * 2);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const view = new DataView(out.buffer, 10 + header.length);
  rows.flat().forEach((t, i) => view.setUint16(2 * i, t, true));
  return out;
}

function npyBool(values: boolean[]): Uint8Array {
  const header = npyHeader(`{'descr': '|b1', 'fortran_order': False, 'shape': (${values.length},), }`);
  const out = new Uint8Array(10 + header.length + values.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  values.forEach((v, i) => (out[10 + header.length + i] = v ? 1 : 0));
  return out;
}

function writePng(path: string, width: number, height: number, pixel: (x: number, y: number) => number[]): void {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) png.data.set(pixel(x, y), 4 * (y * width + x));
  writeFileSync(path, PNG.sync.write(png));
}

describe('npm run train (tiny model)', () => {
  let device: GPUDevice;
  let modelDir: string;
  let imagesDir: string;
  let tokenRows: number[][];
  const run = (args: string[]): Promise<TrainResult> => train(args, { device, log: () => {} });
  const codeOf = async (args: string[]): Promise<string | undefined> => {
    try {
      await run(args);
    } catch (e) {
      return errorCode(e);
    }
    return 'no error';
  };
  const load = async (dir: string, dtype: 'f32' | 'f16' = 'f32') => {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    return ImageGPT.fromPretrained({ config, weights: new Uint8Array(readFileSync(join(dir, 'model.safetensors'))) }, { device, dtype });
  };
  const weightsOf = (dir: string, file = 'model.safetensors') => {
    const parsed = parseSafetensors(new Uint8Array(readFileSync(join(dir, file))));
    return new Map([...parsed.tensors].map(([name, t]) => [name, { dtype: t.dtype, values: tensorToFloat32(t) }]));
  };

  beforeAll(async () => {
    device = await getTestDevice();
    // The tiny torch fixture (n_positions 16: 4×4 images) as an f32 model folder.
    const hf = join(tmp, 'hf');
    mkdirSync(hf);
    for (const f of ['config.json', 'preprocessor_config.json']) copyFileSync(join(TORCH_FIXTURES, f), join(hf, f));
    copyFileSync(join(TORCH_FIXTURES, 'tiny-f32.bin'), join(hf, 'pytorch_model.bin'));
    modelDir = join(tmp, 'model');
    await convertModel(hf, modelDir, { dtype: 'f32' });
    // Images of several sizes (resized by the processor), one non-square, one JPEG, a non-image file beside them.
    imagesDir = join(tmp, 'images');
    mkdirSync(imagesDir);
    writePng(join(imagesDir, 'a.png'), 4, 4, (x, y) => [x * 60, y * 60, 128, 255]);
    writePng(join(imagesDir, 'b.png'), 8, 8, (x, y) => [255 - x * 30, 40, y * 30, 255]);
    writePng(join(imagesDir, 'c.png'), 6, 3, (x) => [x * 40, 200, 10, 255]);
    const jpg = jpeg.encode({ data: Buffer.from(Array.from({ length: 8 * 8 * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * 13) % 256))), width: 8, height: 8 }, 95);
    writeFileSync(join(imagesDir, 'd.jpg'), jpg.data);
    writeFileSync(join(imagesDir, 'notes.txt'), 'not an image');
    tokenRows = Array.from({ length: 6 }, (_, r) => Array.from({ length: 16 }, (_, c) => (r * 97 + c * 31) % 512));
    writeFileSync(join(tmp, 'tokens.npy'), npyUint16(tokenRows));
    writeFileSync(join(tmp, 'tokens.npz'), zipSync({ 'tokens.npy': npyUint16(tokenRows), 'heldout.npy': npyBool([false, true, false, false, true, false]) }, { level: 0 }));
  });

  it('trains on a folder of images and writes a folder fromPretrained loads, with changed weights', async () => {
    const out = freshOut();
    const lines: string[] = [];
    const result = await train(
      ['--data', imagesDir, '--model', modelDir, '--out', out, '--steps', '2', '--batch-size', '2', '--lr', '1e-3', '--eval', imagesDir],
      { device, log: (l) => lines.push(l) },
    );
    expect(result.step).toBe(2);
    expect(lines[0]).toMatch(/4 images, 3 resized to 4×4 \(bilinear; 1 not of that aspect ratio, stretched\), alpha dropped/);
    expect(lines.filter((l) => /^step \d\/2 {2}loss [\d.]+ nats \([\d.]+ bits\/token\).*tokens\/s {2}ETA/.test(l))).toHaveLength(2);
    expect(result.evals[0].after).not.toBe(result.evals[0].before);

    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'preprocessor_config.json', 'trainer-state.json', 'trainer-state.safetensors', 'training-log.jsonl']);
    expect(readFileSync(join(out, 'preprocessor_config.json'))).toEqual(readFileSync(join(modelDir, 'preprocessor_config.json')));
    const before = weightsOf(modelDir);
    const after = weightsOf(out);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    expect(after.get('transformer.h.0.attn.c_attn.weight')!.values).not.toEqual(before.get('transformer.h.0.attn.c_attn.weight')!.values);
    // Norm gains get no gradient (HF multiplies by weight.data): saved as loaded.
    expect(after.get('transformer.ln_f.weight')!.values).toEqual(before.get('transformer.ln_f.weight')!.values);

    // The folder loads, and its model scores the eval images as the run's last eval said.
    const model = await load(out);
    const processor = await ImageGPTImageProcessor.fromPretrained(JSON.parse(readFileSync(join(out, 'preprocessor_config.json'), 'utf8')));
    const names = ['a.png', 'b.png', 'c.png', 'd.jpg'];
    const rows = processor.encode(names.map((n) => decodeImageFile(join(imagesDir, n)))).inputIds;
    const { bitsPerToken } = await model.bitsPerToken(rows);
    expect(bitsPerToken.reduce((s, v) => s + v, 0) / 4).toBeCloseTo(result.evals[0].after!, 5);
    model.dispose();

    const log = readFileSync(join(out, 'training-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((e) => e.event ?? `step ${e.step}`)).toEqual(['eval', 'step 1', 'step 2', 'eval']);
    expect(log[1].loss).toBeGreaterThan(0);
  });

  it('--resume continues where the run stopped: the same weights as an uninterrupted run', async () => {
    const common = ['--data', join(tmp, 'tokens.npy'), '--model', modelDir, '--batch-size', '4', '--lr', '1e-3', '--warmup', '1', '--seed', '7', '--steps', '3'];
    const straight = freshOut();
    await run([...common, '--out', straight]);
    // A run saving at step 2, its folder copied as that save left it: what a run stopped after step 2 leaves.
    const saving = freshOut();
    const stopped = freshOut();
    await train([...common, '--out', saving, '--save-every', '2'], {
      device,
      log: (line) => {
        if (/^saved .* at step 2 /.test(line)) cpSync(saving, stopped, { recursive: true });
      },
    });
    expect(JSON.parse(readFileSync(join(stopped, 'trainer-state.json'), 'utf8'))).toMatchObject({ step: 2, data: { epoch: 1, position: 2 } });
    const result = await run([...common, '--out', stopped, '--resume']);
    expect(result.step).toBe(3);
    // Step 3 draws the batch and uses the lr the uninterrupted run did, from AdamW's saved moments: bit for bit.
    expect(readFileSync(join(stopped, 'model.safetensors'))).toEqual(readFileSync(join(straight, 'model.safetensors')));
    expect(readFileSync(join(saving, 'model.safetensors'))).toEqual(readFileSync(join(straight, 'model.safetensors')));
    const log = readFileSync(join(stopped, 'training-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((e) => e.step)).toEqual([1, 2, 3]);
  });

  it('token files: .npz with --split, f16 weights written with f32 master weights for resuming', async () => {
    const out = freshOut();
    const lines: string[] = [];
    const result = await train(['--data', join(tmp, 'tokens.npz'), '--split', 'train', '--eval', join(tmp, 'tokens.npz'), '--eval-split', 'heldout', '--model', modelDir, '--out', out, '--steps', '1', '--batch-size', '2', '--dtype', 'f16'], {
      device,
      log: (l) => lines.push(l),
    });
    expect(lines[0]).toMatch(/4 images of 16 tokens \(--split train of 6\)/);
    expect(lines[1]).toMatch(/2 images of 16 tokens \(--split heldout of 6\)/);
    const f16 = weightsOf(out);
    const f32 = weightsOf(out, 'trainer-weights.safetensors');
    expect([...f16.values()].every((t) => t.dtype === 'F16')).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('float16');
    for (const [name, t] of f32) {
      const half = f16.get(name)!.values;
      const scale = t.values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(half.every((v, i) => Math.abs(v - t.values[i]) <= scale * 2 ** -10), name).toBe(true);
    }
    const model = await load(out);
    expect(model.config.n_positions).toBe(16);
    // The after-training eval read the f16 file as written (loaded as f16), not the f32 weights still in memory.
    const { rows: heldout } = await readTokenFile(join(tmp, 'tokens.npz'), { numClusters: model.config.vocab_size - 1, tokensPerImage: 16, split: 'heldout' });
    const asWritten = await load(out, 'f16');
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const master = await ImageGPT.fromPretrained({ config, weights: new Uint8Array(readFileSync(join(out, 'trainer-weights.safetensors'))) }, { device, dtype: 'f32' });
    const mean = async (m: ImageGPT) => (await m.bitsPerToken(heldout)).bitsPerToken.reduce((a, b) => a + b, 0) / heldout.length;
    const [f16Bits, f32Bits] = [await mean(asWritten), await mean(master)];
    expect(result.evals[0].after).toBe(f16Bits);
    expect(f16Bits).not.toBe(f32Bits);
    expect(lines.at(-1)).toMatch(/\(f16 weights as written; at step 0: /);
    asWritten.dispose();
    master.dispose();
    model.dispose();
    // Resuming reads the f32 master weights, not the f16 ones.
    expect((await run(['--data', join(tmp, 'tokens.npz'), '--split', 'train', '--model', modelDir, '--out', out, '--steps', '2', '--batch-size', '2', '--dtype', 'f16', '--resume'])).step).toBe(2);
  });

  it('--classes: a classifier from the causal model, trained on a folder per class, saved, reloaded and resumed', async () => {
    const classes = join(tmp, 'classes');
    for (const [name, color] of [['red', [230, 20, 20]], ['blue', [20, 20, 230]]] as const) {
      mkdirSync(join(classes, name), { recursive: true });
      for (let i = 0; i < 3; i++) writePng(join(classes, name, `${i}.png`), 4, 4, (x, y) => [...color.map((c) => (c + 9 * (x + y + i)) % 256), 255]);
    }
    const out = freshOut();
    const lines: string[] = [];
    const args = ['--classes', '--data', classes, '--model', modelDir, '--out', out, '--batch-size', '2', '--lr', '1e-3'];
    const result = await train([...args, '--steps', '2', '--eval', classes], { device, log: (l) => lines.push(l) });
    expect(lines[0]).toMatch(/6 images in 2 classes \(blue 3, red 3\)/);
    expect(lines.filter((l) => /^step \d\/2 {2}loss [\d.]+ nats {2}batch accuracy [0-2]\/2 /.test(l))).toHaveLength(2);
    expect(result.evals[0].metric).toBe('accuracy');
    const saved = weightsOf(out);
    expect(saved.has('score.weight')).toBe(true);
    expect(saved.has('lm_head.weight')).toBe(false);
    const model = await load(out);
    expect(model.config.id2label).toEqual({ 0: 'blue', 1: 'red' });
    expect((await model.classify([[512, ...Array(15).fill(3)]])).length).toBe(2);
    model.dispose();
    // Resumes from --out (its config has the classes); a classifier model needs --classes.
    expect((await run([...args, '--steps', '3', '--resume'])).step).toBe(3);
    expect(await codeOf(['--data', imagesDir, '--model', out, '--out', freshOut(), '--steps', '1'])).toBe('E_MISMATCH');
    expect(await codeOf(['--classes', '--data', imagesDir, '--model', modelDir, '--out', freshOut(), '--steps', '1'])).toBe('E_BAD_INPUT'); // no class folders
  });

  it('reads the token files numpy writes', async () => {
    const hasNumpy = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
    if (!hasNumpy && process.env.CI === 'true') throw new Error('CI needs numpy (python3-numpy) for this test');
    if (!hasNumpy) return;
    const path = join(tmp, 'numpy.npz');
    const script = `import numpy as np, json, sys
t = np.array(json.loads(sys.argv[2]), dtype=np.uint16)
np.savez(sys.argv[1], tokens=t, heldout=np.arange(len(t)) % 2 == 0)`;
    expect(spawnSync('/usr/bin/python3', ['-c', script, path, JSON.stringify(tokenRows)]).status).toBe(0);
    const out = freshOut();
    const lines: string[] = [];
    await train(['--data', path, '--split', 'heldout', '--model', modelDir, '--out', out, '--steps', '1', '--batch-size', '1'], { device, log: (l) => lines.push(l) });
    expect(lines[0]).toMatch(/3 images of 16 tokens \(--split heldout of 6\)/);
  });

  it('refuses bad data, options and folders with codes that say what', async () => {
    const base = (out = freshOut()) => ['--model', modelDir, '--out', out, '--steps', '1'];
    expect(await codeOf(['--data', join(tmp, 'missing'), ...base()])).toBe('E_NOT_FOUND');
    const empty = join(tmp, 'empty');
    mkdirSync(join(empty, 'cats'), { recursive: true });
    await expect(run(['--data', empty, ...base()])).rejects.toThrow(/no \.png, \.jpg or \.jpeg images in this folder \(it has subfolders: cats/);
    const bad = tokenRows.map((r) => [...r]);
    bad[3][9] = 512;
    writeFileSync(join(tmp, 'bad.npy'), npyUint16(bad));
    await expect(run(['--data', join(tmp, 'bad.npy'), ...base()])).rejects.toThrow(/image 3, token 9 is 512; this model's palette ids are 0\.\.511/);
    writeFileSync(join(tmp, 'short.npy'), npyUint16(tokenRows.map((r) => r.slice(0, 12))));
    expect(await codeOf(['--data', join(tmp, 'short.npy'), ...base()])).toBe('E_MISMATCH');
    expect(await codeOf(['--data', join(tmp, 'tokens.npy'), '--split', 'train', ...base()])).toBe('E_BAD_INPUT'); // a .npy has no heldout
    expect(await codeOf(['--data', imagesDir, ...base(), '--batch-size', '0'])).toBe('E_BAD_INPUT');
    expect(await codeOf(['--data', imagesDir, ...base(), '--dtype', 'bf16'])).toBe('E_BAD_INPUT');
    expect(await codeOf(['--data', imagesDir, '--model', join(tmp, 'hf'), '--out', freshOut(), '--steps', '1'])).toBe('E_NOT_FOUND'); // no model.safetensors
    expect(await codeOf(['--data', imagesDir, ...base(), '--resume'])).toBe('E_NOT_FOUND');
    const done = freshOut();
    await run(['--data', imagesDir, ...base(done)]);
    await expect(run(['--data', imagesDir, ...base(done)])).rejects.toThrow(/already holds a run .*--resume/);
    await expect(run(['--data', imagesDir, ...base(done), '--resume'])).rejects.toThrow(/at step 1; --steps 1 leaves nothing to do/);
    await expect(run(['--data', imagesDir, ...base(done).slice(0, 4), '--steps', '2', '--resume', '--seed', '2'])).rejects.toThrow(/used seed 1, this command 2/);
    writeFileSync(join(tmp, 'broken.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    expect(() => decodeImageFile(join(tmp, 'broken.png'))).toThrow(/not a readable PNG/);
  });
});

describe('train schedule, data order, .npy reader', () => {
  it('learningRate: linear warmup, then a cosine to 10 % at the last step', () => {
    const s = { lr: 1, warmup: 4, totalSteps: 11 };
    expect([1, 2, 3].map((t) => learningRate(t, s))).toEqual([1, 2, 3].map((t) => (t / 4) * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (t - 1)) / 10)))));
    expect(learningRate(6, s)).toBeCloseTo(0.55, 12); // halfway: 0.1 + 0.9 / 2
    expect(learningRate(11, s)).toBeCloseTo(0.1, 12);
    expect(learningRate(1, { lr: 2, warmup: 0, totalSteps: 1 })).toBeCloseTo(0.2, 12);
  });

  it('DataOrder: each epoch a permutation, batches across epoch ends, resumable from its cursor', () => {
    const order = new DataOrder(5, 3);
    const drawn = [order.next(3), order.next(3), order.next(4)].flat();
    expect(drawn.slice(0, 5).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(drawn.slice(5, 10).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(drawn.slice(0, 5)).not.toEqual(drawn.slice(5, 10)); // seed 3 shuffles epochs 0 and 1 differently
    const a = new DataOrder(7, 11);
    a.next(9);
    const b = new DataOrder(7, 11, a.position);
    expect(b.next(10)).toEqual(a.next(10));
    expect(new DataOrder(7, 12).next(7)).not.toEqual(new DataOrder(7, 11).next(7));
  });

  it('parseNpy: shapes and dtypes as numpy writes them; refusals name the problem', () => {
    const a = parseNpy(npyUint16([[1, 2, 65535], [4, 5, 6]]), 'x.npy');
    expect(a).toEqual({ dtype: '<u2', shape: [2, 3], values: Float64Array.from([1, 2, 65535, 4, 5, 6]) });
    expect(() => parseNpy(new Uint8Array(20), 'x.npy')).toThrow(/x\.npy: not a \.npy array/);
    const fortran = npyUint16([[1, 2]]);
    fortran.set(new TextEncoder().encode("'fortran_order': True, "), 10 + "{'descr': '<u2', ".length);
    expect(() => parseNpy(fortran, 'f.npy')).toThrow(/Fortran-order/);
    const float = npyUint16([[1, 2]]);
    float.set(new TextEncoder().encode('<f2'), 10 + "{'descr': '".length);
    expect(() => parseNpy(float, 'g.npy')).toThrow(/dtype '<f2' is not one a token file holds/);
    const whole = npyUint16([[1, 2]]);
    expect(whole.length).toBe(128 + 4); // numpy's header alignment
    expect(() => parseNpy(whole.subarray(0, whole.length - 2), 'h.npy')).toThrow(/needs 4 bytes of data, the file has 2/);
  });

  it('parseTrainArgs: defaults, and every bad value named', () => {
    const args = parseTrainArgs(['--data', 'd', '--model', 'm', '--out', 'o', '--steps', '5']);
    expect(args).toMatchObject({ batchSize: 4, lr: 1e-4, warmup: 0, weightDecay: 0.01, maxGradNorm: 1, seed: 1, dtype: 'f32', saveEvery: 0, resume: false, eval: [], split: 'all' });
    expect(args.seqLength).toBeUndefined();
    const code = (extra: string[]) => {
      try {
        parseTrainArgs(['--data', 'd', '--model', 'm', '--out', 'o', ...extra]);
      } catch (e) {
        return `${errorCode(e)} ${(e as Error).message.split('\n')[0]}`;
      }
      return 'ok';
    };
    expect(code([])).toBe('E_BAD_INPUT --steps is required');
    expect(code(['--steps', '2.5'])).toBe('E_BAD_INPUT --steps must be a positive integer, got "2.5"');
    expect(code(['--steps', '2', '--lr=-1'])).toBe('E_BAD_INPUT --lr must be a number ≥ 0, got "-1"');
    expect(code(['--steps', '2', '--split', 'test'])).toBe('E_BAD_INPUT --split must be all or train or heldout, got "test"');
    expect(code(['--steps', '2', '--bogus'])).toMatch(/^E_BAD_INPUT Unknown option '--bogus'/);
  });
});
