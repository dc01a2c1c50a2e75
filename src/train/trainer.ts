// Fine-tuning ImageGPTForCausalImageModeling or ImageGPTForImageClassification on the GPU: the public Trainer over a
// TrainingGraph. A step checks its inputs, writes them, records forward, backward and AdamW into one pass, submits
// once, and reads back the loss (one small readback per step, through a staging buffer made once; a classifier's
// holds its logits and trained score too). Weights are updated in place: the model's forward, generate, complete and
// classify see them (a classifier's score.weight, kept on the CPU, is uploaded before and read back after each step).
// save() writes an HF-named f32 model.safetensors; saveState()/loadState() carry AdamW's moments and step count.
import type { ImageGPTConfig } from '../model/config';
import type { ModelWeights } from '../model/weights';
import { KernelContext } from '../gpu/context';
import { Readback, readBuffer } from '../gpu/readback';
import { badInput, ImageGPTError } from '../errors';
import { checkOptionKeys } from '../options';
import { describeValue } from '../json';
import { parseSafetensors, writeSafetensors, tensorToFloat32 } from '../safetensors';
import { TrainingGraph, trainingBytes } from './graph';

export interface TrainerOptions {
  /** Sequences per step. */
  batchSize: number;
  /** Tokens per sequence (SOS first), at most n_positions. */
  seqLength: number;
  /** Learning rate: a number, or a function of the step about to run (1 for the first). */
  lr: number | ((step: number) => number);
  /** AdamW's β1, β2. Default [0.9, 0.999] (torch's; the original iGPT used [0.9, 0.95]). */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay, not applied to biases or norm gains. Default 0.01. */
  weightDecay?: number;
  /** Clip the global gradient norm to this (0: no clipping). Default 1. */
  maxGradNorm?: number;
  /**
   * Dropout as Hugging Face's ImageGPT applies it in training, with the config's probabilities: resid_pdrop on the
   * attention's and the MLP's output before each residual add, embd_pdrop on wte + wpe, attn_pdrop on the attention
   * probabilities (HF's default 0.1 each when config.json leaves them out). Default: on (a place with p = 0 costs
   * nothing). false: no dropout, whatever the config says.
   */
  dropout?: boolean;
  /**
   * Seeds the dropout masks (an integer in [0, 2³²)); default 0. A mask is a hash of (seed, place, step, element):
   * the same seed, data and options give the same losses and weights, and a run resumed with loadState drops what
   * the uninterrupted run would have.
   */
  seed?: number;
}

export interface TrainStepOptions {
  /**
   * Causal model: [B][T], the target of position t is labels[b][t + 1]; default: the input ids. Classifier
   * (required): [B] class indices in 0..num_labels − 1. -100 is ignored in both.
   */
  labels?: number[][] | number[];
}

export interface TrainStepResult {
  /** Mean cross-entropy over the counted targets, in nats (NaN when every label is -100, as torch's mean). */
  loss: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  /** A classifier's logits [B × num_labels] of this step's forward (before its update); absent for the causal model. */
  logits?: Float32Array;
}

const TRAINER_OPTIONS = ['batchSize', 'seqLength', 'lr', 'betas', 'eps', 'weightDecay', 'maxGradNorm', 'dropout', 'seed'];

/** What a Trainer needs of its model: its device, config and f32 weights. */
export interface TrainerHost {
  device: GPUDevice;
  config: ImageGPTConfig;
  weights: ModelWeights;
}

export class Trainer {
  readonly batchSize: number;
  readonly seqLength: number;
  private readonly ctx: KernelContext;
  private readonly graph: TrainingGraph;
  private readonly readback: Readback;
  private readonly lr: TrainerOptions['lr'];
  /** Bytes read back per step: loss and gradient norm, and a classifier's logits [B, C] and score [C, E]. */
  private readonly readBytes: number;
  private disposed = false;
  private running: Promise<unknown> = Promise.resolve();

  /** Use ImageGPT.createTrainer (it ties the trainer to the model); `onDispose` tells the model it is gone. @internal */
  constructor(
    private readonly host: TrainerHost,
    options: TrainerOptions,
    private readonly onDispose: () => void = () => {},
  ) {
    const what = 'createTrainer';
    checkOptionKeys(what, options, TRAINER_OPTIONS);
    if (typeof options !== 'object' || options === null) throw badInput(`${what}: options { batchSize, seqLength, lr } are required`);
    const { config } = host;
    // The head: the causal model's lm_head, or a classifier's score (single-label cross-entropy only).
    const numLabels = host.weights.lmHead ? undefined : host.weights.score?.numLabels;
    if (numLabels !== undefined) {
      const problem = config.problem_type ?? (numLabels === 1 ? 'regression' : 'single_label_classification');
      if (problem !== 'single_label_classification') {
        throw new ImageGPTError(
          'E_UNSUPPORTED',
          `${what}: this classifier's problem type is ${problem}${config.problem_type ? '' : ' (num_labels 1 with problem_type unset, as Hugging Face decides)'}; the trainer supports single_label_classification: cross-entropy over class indices, num_labels ≥ 2`,
        );
      }
    }
    for (const key of ['batchSize', 'seqLength'] as const) {
      const v: unknown = options[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw badInput(`${what}: ${key} must be a positive integer, got ${describeValue(v)}`);
    }
    if (options.seqLength > config.n_positions) throw badInput(`${what}: seqLength ${options.seqLength} is longer than n_positions (${config.n_positions})`);
    if (options.seqLength < 2) throw badInput(`${what}: seqLength must be at least 2 (SOS and one token to predict)`);
    const lr: unknown = options.lr;
    if (typeof lr !== 'function' && (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0)) {
      throw badInput(`${what}: lr must be a finite number ≥ 0 or a function of the step, got ${describeValue(lr)}`);
    }
    if (options.dropout !== undefined && typeof options.dropout !== 'boolean') throw badInput(`${what}: dropout must be true or false, got ${describeValue(options.dropout)}`);
    const seed: unknown = options.seed ?? 0;
    if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw badInput(`${what}: seed must be an integer in [0, 2³²), got ${describeValue(options.seed)}`);
    }
    const dropout = options.dropout === false ? undefined : { resid: config.resid_pdrop, embd: config.embd_pdrop, attn: config.attn_pdrop, seed };
    for (const [name, p] of [['resid_pdrop', dropout?.resid], ['embd_pdrop', dropout?.embd], ['attn_pdrop', dropout?.attn]] as const) {
      if (p === 1) throw badInput(`${what}: the config's ${name} is 1, which would drop every value; train with dropout: false or a config below 1`);
    }
    // Sizes before anything of their size is made.
    const bytes = trainingBytes(config, options.batchSize, options.seqLength, numLabels);
    const need = bytes.activations + 3 * bytes.weights; // activations, gradients, two moments (the weights exist)
    const limits = host.device.limits;
    const logitsWidth = numLabels === undefined ? config.vocab_size - 1 : 0; // a classifier's logits are per sequence, not per token
    const largest = 4 * options.batchSize * options.seqLength * Math.max(3 * config.n_embd, config.n_inner, logitsWidth);
    if (largest > limits.maxStorageBufferBindingSize || largest > limits.maxBufferSize) {
      throw new ImageGPTError(
        'E_DEVICE_LIMIT',
        `${what}: batchSize ${options.batchSize} × seqLength ${options.seqLength} needs ${largest}-byte activation buffers; this device binds at most ${limits.maxStorageBufferBindingSize} (use a smaller batch)`,
      );
    }
    this.batchSize = options.batchSize;
    this.seqLength = options.seqLength;
    this.lr = options.lr;
    this.ctx = new KernelContext(host.device);
    try {
      this.graph = new TrainingGraph(this.ctx, config, host.weights, { ...options, dropout });
    } catch (e) {
      this.ctx.destroy();
      throw e;
    }
    this.readBytes = 8 + (numLabels === undefined ? 0 : 4 * numLabels * (options.batchSize + config.n_embd));
    this.readback = new Readback(host.device, { label: 'training loss', slots: 1, bytes: this.readBytes });
    this.gpuBytes = need;
  }

  /** GPU bytes the trainer made (activations, gradients, both moments), estimated before making them. */
  readonly gpuBytes: number;

  /** Steps taken so far (restored by loadState). */
  get stepCount(): number {
    return this.graph.optimizer.step;
  }

  /** Dispatches per step: forward, backward, optimizer. */
  get dispatchCounts(): { forward: number; backward: number; optimizer: number } {
    return this.graph.dispatchCounts;
  }

  private check(what: string): void {
    if (this.disposed) throw new ImageGPTError('E_DISPOSED', `trainer.${what}: the trainer was disposed`);
  }

  /** Runs calls one after another (a step must not start while the previous one is reading back). */
  private serial<T>(call: () => Promise<T>): Promise<T> {
    const run = this.running.then(call, call);
    this.running = run.catch(() => {});
    return run;
  }

  /** One training step on `inputIds` [batchSize][seqLength] (SOS first). */
  step(inputIds: number[][], options: TrainStepOptions = {}): Promise<TrainStepResult> {
    return this.serial(async () => {
      this.check('step');
      checkOptionKeys('trainer.step', options, ['labels']);
      const ids = this.checkRows('inputIds', inputIds);
      const classifier = this.graph.classifier;
      const labels = classifier ? this.checkClasses(options.labels) : options.labels === undefined ? ids : this.checkRows('labels', options.labels, true);
      const next = this.graph.optimizer.step + 1;
      const lr = typeof this.lr === 'function' ? this.lr(next) : this.lr;
      if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw badInput(`trainer.step: lr(${next}) returned ${describeValue(lr)}; expected a finite number ≥ 0`);
      const counted = this.graph.writeInputs(ids, labels);
      const device = this.host.device;
      const score = this.host.weights.score;
      // The model's score lives on the CPU (classify reads it there): the step trains it from there and back.
      if (classifier && score) device.queue.writeBuffer(classifier.score, 0, score.weight as Float32Array<ArrayBuffer>); // never shared memory: the loader or forImageClassification made it
      const encoder = device.createCommandEncoder({ label: 'training step' });
      const pass = encoder.beginComputePass();
      this.graph.encode(pass, lr);
      pass.end();
      const staged = this.readback.stage(this.readBytes);
      staged.copy(encoder, this.graph.lossSum, 0, 0, 4);
      staged.copy(encoder, this.graph.optimizer.normSquared, 0, 4, 4);
      const B = this.batchSize;
      const C = classifier?.numLabels ?? 0;
      if (classifier) {
        staged.copy(encoder, classifier.logits, 0, 8, 4 * B * C);
        staged.copy(encoder, classifier.score, 0, 8 + 4 * B * C, score!.weight.byteLength);
      }
      device.queue.submit([encoder.finish()]);
      const read = new Float32Array(await staged.map(this.readBytes));
      const result: TrainStepResult = { loss: counted === 0 ? NaN : read[0] / counted, gradNorm: Math.sqrt(read[1]) };
      if (classifier) {
        result.logits = read.slice(2, 2 + B * C);
        score!.weight.set(read.subarray(2 + B * C));
      }
      return result;
    });
  }

  /** A classifier's labels: one class index per row (their values are checked where they are written). */
  private checkClasses(labels: unknown): number[] {
    const B = this.batchSize;
    const C = this.graph.classifier!.numLabels;
    if (labels === undefined) throw badInput(`trainer.step: a classifier needs labels: ${B} class indices (0..${C - 1}, or -100 to ignore a row)`);
    if (!Array.isArray(labels) || labels.length !== B || labels.some((l) => Array.isArray(l))) {
      throw badInput(`trainer.step: labels must be ${B} class indices (one per row, batchSize ${B}), got ${Array.isArray(labels) ? `an array of ${labels.length}${labels.some((l) => Array.isArray(l)) ? ' rows' : ''}` : describeValue(labels)}`);
    }
    return labels as number[];
  }

  private checkRows(what: string, rows: unknown, labels = false): number[][] {
    const { batchSize: B, seqLength: T } = this;
    const V = this.host.config.vocab_size;
    if (!Array.isArray(rows) || rows.length !== B) throw badInput(`trainer.step: ${what} must be ${B} rows (batchSize), got ${Array.isArray(rows) ? `${rows.length} rows` : describeValue(rows)}`);
    rows.forEach((row: unknown, b) => {
      if (!Array.isArray(row) || row.length !== T) throw badInput(`trainer.step: ${what}[${b}] must hold ${T} tokens (seqLength), got ${Array.isArray(row) ? row.length : describeValue(row)}`);
      if (labels) return; // label values are checked where they are read (writeInputs)
      row.forEach((id: unknown, t) => {
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= V) throw badInput(`trainer.step: ${what}[${b}][${t}] is ${describeValue(id)}; expected a token id in 0..${V - 1}`);
      });
    });
    return rows as number[][];
  }

  /** Every weight as an HF-named f32 model.safetensors (lm_head back in its [512, E] layout; a classifier's score.weight [C, E]). */
  save(): Promise<Uint8Array> {
    return this.serial(async () => {
      this.check('save');
      const { config, weights, device } = this.host;
      const E = config.n_embd;
      const tensors: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] = [];
      const read = async (buffer: GPUBuffer, count: number) => new Float32Array(await readBuffer(device, buffer, 0, count * 4));
      for (const t of this.graph.trained) {
        let data = await read(t.param, t.count);
        let shape: number[] = [...t.shape];
        if (t.transposed) {
          const [rows, cols] = t.shape as [number, number];
          const back = new Float32Array(data.length);
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) back[c * rows + r] = data[r * cols + c];
          data = back;
          shape = [cols, rows];
        }
        tensors.push({ name: t.name, dtype: 'F32', shape, data });
      }
      for (let i = 0; i < config.n_layer; i++) {
        tensors.push({ name: `transformer.h.${i}.ln_1.weight`, dtype: 'F32', shape: [E], data: await read(weights.layers[i].ln1, E) });
        tensors.push({ name: `transformer.h.${i}.ln_2.weight`, dtype: 'F32', shape: [E], data: await read(weights.layers[i].ln2, E) });
      }
      tensors.push({ name: 'transformer.ln_f.weight', dtype: 'F32', shape: [E], data: await read(weights.lnF, E) });
      tensors.sort((a, b) => a.name.localeCompare(b.name));
      return writeSafetensors(tensors, { format: 'pt' });
    });
  }

  /** AdamW's state (both moments of every trained tensor and the step count) as safetensors bytes. */
  saveState(): Promise<Uint8Array> {
    return this.serial(async () => {
      this.check('saveState');
      const opt = this.graph.optimizer;
      const tensors: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] = [];
      for (let i = 0; i < this.graph.trained.length; i++) {
        const t = this.graph.trained[i];
        for (const which of ['m', 'v'] as const) {
          const data = new Float32Array(await readBuffer(this.host.device, opt.moments[i][which], 0, t.count * 4));
          tensors.push({ name: `${t.name}.adam_${which}`, dtype: 'F32', shape: [...t.shape], data });
        }
      }
      return writeSafetensors(tensors, { step: String(opt.step), batchSize: String(this.batchSize), seqLength: String(this.seqLength) });
    });
  }

  /** Restores what saveState wrote (same model shape); the weights are loaded with the model itself. */
  loadState(bytes: Uint8Array): Promise<void> {
    return this.serial(async () => {
      this.check('loadState');
      const file = parseSafetensors(bytes);
      const step = Number(file.metadata.step);
      if (!Number.isInteger(step) || step < 0) throw new ImageGPTError('E_BAD_FILE', `trainer.loadState: metadata "step" is ${describeValue(file.metadata.step)}; expected the step count saveState wrote`);
      const opt = this.graph.optimizer;
      this.graph.trained.forEach((t, i) => {
        for (const which of ['m', 'v'] as const) {
          const name = `${t.name}.adam_${which}`;
          const tensor = file.tensors.get(name);
          if (!tensor) throw new ImageGPTError('E_BAD_FILE', `trainer.loadState: ${name} is missing; expected the state of a trainer of this model`);
          const data = tensorToFloat32(tensor);
          if (data.length !== t.count) throw new ImageGPTError('E_BAD_FILE', `trainer.loadState: ${name} holds ${data.length} values, expected ${t.count}`);
          this.host.device.queue.writeBuffer(opt.moments[i][which], 0, new Float32Array(data));
        }
      });
      opt.step = step;
    });
  }

  /** Frees every buffer the trainer made (the model's weights stay, trained). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.onDispose();
    this.graph.destroy();
    this.readback.destroy();
    this.ctx.destroy();
  }
}
