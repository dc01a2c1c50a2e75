// Reading the training fixtures (test/fixtures/train, made by weights-tools/make_train_fixtures.py with torch).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, tensorToFloat32, type SafetensorsTensor } from '../../src/safetensors';
import { FIXTURES, loadModelFixture, type ModelFixture } from './fixtures';
import type { TrainerOptions } from '../../src/train/trainer';

export interface TrainHyper {
  steps: number;
  batchSize: number;
  seqLength: number;
  lr: number[];
  betas: [number, number];
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
  normGainsTrained: boolean;
}

export interface TrainFixture {
  /** The model before training (tiny/ or classifier/). */
  model: ModelFixture;
  hyper: TrainHyper;
  inputIds: number[][];
  /** [B][T] with -100 for ignored targets (causal), or one class id per row. */
  labels: number[][] | number[];
  /** Per step, from torch (float64). */
  loss: Float64Array;
  gradNorm: Float64Array;
  /** afterStep[k] holds every weight after step k + 1 (f32). */
  afterStep: Map<string, Float32Array>[];
}

function rows(t: SafetensorsTensor): number[][] {
  const flat = Array.from(new Int32Array(t.data.slice().buffer));
  const [B, T] = t.shape;
  return Array.from({ length: B }, (_, b) => flat.slice(b * T, (b + 1) * T));
}

const f64 = (t: SafetensorsTensor): Float64Array => new Float64Array(t.data.slice().buffer);

export function loadTrainFixture(kind: 'causal' | 'classifier'): TrainFixture {
  const model = loadModelFixture(kind === 'causal' ? 'tiny' : 'classifier');
  const file = parseSafetensors(new Uint8Array(readFileSync(join(FIXTURES, 'train', `${kind}.safetensors`))));
  const hyper = JSON.parse(file.metadata.hyper) as TrainHyper;
  const t = (name: string): SafetensorsTensor => {
    const found = file.tensors.get(name);
    if (!found) throw new Error(`train fixture ${kind}: missing ${name}`);
    return found;
  };
  const labels = t('labels');
  const afterStep = Array.from({ length: hyper.steps }, (_, k) => {
    const prefix = `step${k + 1}.`;
    const m = new Map<string, Float32Array>();
    for (const [name, tensor] of file.tensors) if (name.startsWith(prefix)) m.set(name.slice(prefix.length), tensorToFloat32(tensor));
    return m;
  });
  return {
    model,
    hyper,
    inputIds: rows(t('input_ids')),
    labels: labels.shape.length === 2 ? rows(labels) : Array.from(new Int32Array(labels.data.slice().buffer)),
    loss: f64(t('loss')),
    gradNorm: f64(t('grad_norm')),
    afterStep,
  };
}

/** The trainer options a fixture was made with (lr per step as the fixture lists it). */
export function trainerOptionsOf(h: TrainHyper): TrainerOptions {
  return { batchSize: h.batchSize, seqLength: h.seqLength, lr: (step) => h.lr[step - 1], betas: h.betas, eps: h.eps, weightDecay: h.weightDecay, maxGradNorm: h.maxGradNorm };
}
