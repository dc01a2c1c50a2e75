// The GPU recipe (weights-tools/train_gpu.py) on its CPU path: a tiny config trained for a few steps on
// a synthetic tokens file must learn, and write a model the library loads, whose held-out loss under the
// CPU reference forward matches the figure the script reports for its f16 weights.
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, tensorToFloat32 } from '../../src/safetensors';
import { parseImageGPTConfig } from '../../src/model/config';
import { expectedTensorShapes } from '../../src/model/weights';
import { referenceForward, type WeightMap } from '../reference/model';

const PYTHON = '/usr/bin/python3'; // Debian's, with python3-torch (the first python3 on PATH may lack torch)
const ROOT = join(__dirname, '..', '..');
const SOS = 512;
const SIZE = 4;
const N = 48;

const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'train-gpu-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Four two-colour layouts (top half one token, bottom half another), so a tiny model learns them in 40 steps.
const PATTERNS = [[3, 7], [7, 3], [100, 200], [511, 0]];
const images = Array.from({ length: N }, (_, i) => {
  const [top, bottom] = PATTERNS[(i * 7 + (i >> 2)) % 4];
  return Array.from({ length: SIZE * SIZE }, (_, p) => (p < (SIZE * SIZE) / 2 ? top : bottom));
});
const heldout = images.map((_, i) => i % 6 === 0);

const WRITE_DATA = `
import json, sys
import numpy as np
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'weights-tools'))})
from tokenize_data import write_tokens_file
d = json.load(sys.stdin)
clusters = np.round(np.random.default_rng(0).uniform(-1, 1, (512, 3)), 6)
n = len(d["images"])
write_tokens_file(d["out"], np.array(d["images"], dtype=np.uint16), np.array(d["heldout"]),
                  np.ones(n, np.float32), np.arange(n) % 2 == 0, clusters, d["size"])
`;

/** Mean cross-entropy in bits of each image's tokens, inputs [SOS, t0 .. t(n-2)], under the CPU reference. */
function referenceBitsPerToken(config: ReturnType<typeof parseImageGPTConfig>, weights: WeightMap, rows: number[][]): number {
  const ids = rows.map((r) => [SOS, ...r.slice(0, -1)]);
  const { logits } = referenceForward(config, weights, ids);
  const V = config.vocab_size - 1;
  let nats = 0;
  rows.forEach((row, b) =>
    row.forEach((target, t) => {
      const at = (b * row.length + t) * V;
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[at + v]);
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(logits[at + v] - max);
      nats += Math.log(sum) + max - logits[at + target];
    }),
  );
  return nats / (rows.length * rows[0].length) / Math.LN2;
}

// Without Debian's python3-torch the script cannot run: skipped on a developer's machine, a failure in CI (.ci/run installs it).
if (!hasTorch && process.env.CI === 'true') throw new Error(`${PYTHON} cannot import torch and numpy: CI must install python3-torch (see .ci/run)`);

describe.skipIf(!hasTorch)('weights-tools/train_gpu.py on CPU (tiny config)', () => {
  it('trains, exports HF-named f16 weights the library parses, and reports their held-out loss truly', () => {
    const data = join(tmp, 'tokens.npz');
    execFileSync(PYTHON, ['-c', WRITE_DATA], { input: JSON.stringify({ out: data, images, heldout, size: SIZE }) });
    const cfgPath = join(tmp, 'tiny.json');
    writeFileSync(cfgPath, JSON.stringify({
      name: 'tiny', n_embd: 32, n_layer: 2, n_head: 2, dropout: 0, batch_size: 8, lr: 0.01, warmup_steps: 5,
      weight_decay: 0, steps: 40, eval_minutes: 10,
    }));
    const out = join(tmp, 'model');
    execFileSync(PYTHON, [join(ROOT, 'weights-tools', 'train_gpu.py'), '--data', data, '--config', cfgPath, '--out', out,
      '--device', 'cpu'], { stdio: 'pipe', timeout: 120_000 });

    const config = parseImageGPTConfig(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')));
    expect([config.n_embd, config.n_layer, config.n_head, config.n_positions, config.vocab_size]).toEqual([32, 2, 2, 16, 513]);
    const file = parseSafetensors(readFileSync(join(out, 'model.safetensors')));
    // The trunk's tensors, plus the causal-LM head (the spec lets a checkpoint have it or a classifier's score).
    const expected = new Map([...expectedTensorShapes(config), ['lm_head.weight', [512, 32]]]);
    expect([...file.tensors.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, shape] of expected) {
      expect(file.tensors.get(name)!.shape, name).toEqual(shape);
      expect(file.tensors.get(name)!.dtype, name).toBe('F16');
    }
    const pre = JSON.parse(readFileSync(join(out, 'preprocessor_config.json'), 'utf8'));
    expect(pre.clusters).toHaveLength(512);
    expect(pre.size).toEqual({ height: SIZE, width: SIZE });

    const facts = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
    expect(facts.steps).toBe(40);
    expect(facts.heldout_images).toBe(heldout.filter(Boolean).length);
    const weights: WeightMap = new Map([...file.tensors].map(([name, t]) => [name, tensorToFloat32(t)]));
    const held = images.filter((_, i) => heldout[i]);
    const bits = referenceBitsPerToken(config, weights, held);
    expect(Math.abs(bits - facts.heldout_bpt_f16)).toBeLessThan(2e-3);
    // It learned: 9 bits is uniform over 512 colours; two layouts' worth of tokens are nearly free.
    expect(bits).toBeLessThan(2);

    const log = readFileSync(join(tmp, 'run', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log[0].event).toBe('start');
    expect(log.find((e) => e.event === 'step').bpt).toBeGreaterThan(8);
    expect(log.find((e) => e.event === 'final').heldout_bpt).toBeCloseTo(facts.heldout_bpt, 4);
  }, 180_000);
});
