// Reading committed fixtures (config.json + safetensors) from test/fixtures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, tensorToFloat32 } from '../../src/safetensors';
import { parseImageGPTConfig, type ImageGPTConfig } from '../../src/model/config';
import type { WeightMap } from '../reference/model';

export const FIXTURES = join(__dirname, '..', 'fixtures');

export interface ModelFixture {
  configJson: Record<string, unknown>;
  config: ImageGPTConfig;
  weightBytes: Uint8Array;
  weights: WeightMap;
  expected: Map<string, Float32Array>;
  inputIds: number[][];
}

export function loadModelFixture(name: string): ModelFixture {
  const dir = join(FIXTURES, name);
  const configJson = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const weightBytes = new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
  const weights: WeightMap = new Map();
  for (const [n, t] of parseSafetensors(weightBytes).tensors) {
    if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') weights.set(n, tensorToFloat32(t));
  }
  const exp = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'expected.safetensors'))));
  const expected = new Map<string, Float32Array>();
  let inputIds: number[][] = [];
  for (const [n, t] of exp.tensors) {
    if (n === 'input_ids') {
      const ids = t.dtype === 'I64'
        ? Array.from(new BigInt64Array(t.data.slice().buffer), Number)
        : Array.from(new Int32Array(t.data.slice().buffer));
      const [B, T] = t.shape;
      inputIds = Array.from({ length: B }, (_, b) => ids.slice(b * T, (b + 1) * T));
    } else {
      expected.set(n, tensorToFloat32(t));
    }
  }
  return { configJson, config: parseImageGPTConfig(configJson), weightBytes, weights, expected, inputIds };
}

export { relError } from './rel-error';
