// `npm run train`: fine-tunes an ImageGPT model folder on a folder of images or a token file with the library's own
// trainer (WebGPU through Dawn in Node: SwiftShader by default, IMAGEGPT_REAL_GPU=1 for the machine's GPU), and
// writes an HF-format model folder that ImageGPT.fromPretrained reads. Resumable: the out folder holds AdamW's state
// and the data order's cursor. See USAGE below and README's "Fine-tuning".
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageGPT } from '../src/model/imagegpt';
import type { Trainer } from '../src/index';
import { ImageGPTImageProcessor } from '../src/processor/index';
import type { PreprocessorConfig } from '../src/processor/processor';
import { ImageGPTError, errorCode } from '../src/errors';
import { errorMessage } from '../src/json';
import { parseSafetensors, writeSafetensors, type SafetensorsDType } from '../src/safetensors';
import { convertTensor, type OutputDType } from './convert';
import { readClassFolders, readTrainingData, type TokenSplit, type TrainingData } from './train-data';
import { DataOrder, learningRate, type DataCursor } from './train-schedule';
import { createNodeDevice } from '../scripts/node-webgpu';

const USAGE = `usage: npm run train -- --data <images folder | tokens.npy/.npz> --model <dir> --out <dir> --steps N [options]
  --data PATH           a folder of .png/.jpg images (resized and quantized by the model's preprocessor_config.json)
                        or a token file from weights-tools/tokenize_data.py (.npz, or a .npy of uint16 [N, height*width])
  --split all|train|heldout   which rows of a tokenize_data.py .npz to train on (default all)
  --model DIR           config.json, preprocessor_config.json, model.safetensors (f32, f16 or bf16)
  --out DIR             the fine-tuned model folder (config.json, model.safetensors, preprocessor_config.json,
                        training-log.jsonl, trainer-state.*)
  --steps N             the total number of steps (a resumed run continues to N)
  --batch-size B        images per step (default 4)
  --seq-length T        tokens per image fed, SOS first (default n_positions: SOS + all but the last pixel)
  --lr X                peak learning rate (default 1e-4)
  --warmup W            linear warmup steps (default 0); then a cosine down to 10 % of --lr at step N
  --weight-decay X      AdamW's decoupled decay, not on biases or norm gains (default 0.01)
  --max-grad-norm X     clip the global gradient norm (default 1; 0: off)
  --seed S              the data order, and a new classifier head's draw (default 1)
  --dtype f32|f16       the written model.safetensors (default f32)
  --save-every K        also save every K steps (default: only at the end)
  --resume              continue the run in --out (its trainer-state.safetensors and trainer-state.json)
  --eval PATH           held-out images or tokens: bits per token before and after training (repeatable)
  --eval-split all|train|heldout   which rows of an --eval .npz (default all)
  --classes             fine-tune a classifier (ImageGPTForImageClassification): --data (and --eval) hold one
                        subfolder of images per class; a causal --model gets a fresh score head (forImageClassification,
                        seeded by --seed), a classifier --model must have those classes; eval reports accuracy`;

/** What --resume needs besides the weights and AdamW's moments: where the run was and what it was. */
interface RunState {
  step: number;
  data: DataCursor;
  seed: number;
  batchSize: number;
  seqLength: number;
  images: number;
  /** The f32 weights to resume from: model.safetensors when written as f32, else trainer-weights.safetensors. */
  weightsFile: string;
}

interface TrainArgs {
  data: string;
  split: TokenSplit;
  model: string;
  out: string;
  steps: number;
  batchSize: number;
  seqLength?: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  maxGradNorm: number;
  seed: number;
  dtype: OutputDType;
  saveEvery: number;
  resume: boolean;
  eval: string[];
  evalSplit: TokenSplit;
  classes: boolean;
}

export interface TrainIO {
  /** Progress lines (default console.log). */
  log?: (line: string) => void;
  /** The GPU to train on (default: a Dawn device as scripts/with-webgpu.mjs sets it up). */
  device?: GPUDevice;
}

export interface TrainResult {
  step: number;
  /**
   * Per --eval, before and after training (after: the weights as written, so with --dtype f16 the f16 ones): the
   * mean bits per token over its images, or with --classes the fraction classified right.
   */
  evals: Array<{ path: string; images: number; metric: EvalMetric; before: number; after?: number }>;
  lastLoss?: number;
}

const STATE_JSON = 'trainer-state.json';
const STATE_TENSORS = 'trainer-state.safetensors';
const LOG_FILE = 'training-log.jsonl';

function badOption(message: string): ImageGPTError {
  return new ImageGPTError('E_BAD_INPUT', message);
}

function numberOption(name: string, text: string | undefined, fallback: number | undefined, kind: 'integer' | 'count' | 'real'): number {
  if (text === undefined) {
    if (fallback === undefined) throw badOption(`--${name} is required\n${USAGE}`);
    return fallback;
  }
  const value = Number(text);
  const ok = kind === 'real' ? Number.isFinite(value) && value >= 0 : Number.isInteger(value) && value >= (kind === 'count' ? 1 : 0);
  if (text.trim() === '' || !ok) {
    const expected = kind === 'real' ? 'a number ≥ 0' : kind === 'count' ? 'a positive integer' : 'an integer ≥ 0';
    throw badOption(`--${name} must be ${expected}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function oneOf<T extends string>(name: string, text: string | undefined, allowed: readonly T[], fallback: T): T {
  if (text === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(text)) throw badOption(`--${name} must be ${allowed.join(' or ')}, got ${JSON.stringify(text)}`);
  return text as T;
}

export function parseTrainArgs(args: string[]): TrainArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        data: { type: 'string' },
        split: { type: 'string' },
        model: { type: 'string' },
        out: { type: 'string' },
        steps: { type: 'string' },
        'batch-size': { type: 'string' },
        'seq-length': { type: 'string' },
        lr: { type: 'string' },
        warmup: { type: 'string' },
        'weight-decay': { type: 'string' },
        'max-grad-norm': { type: 'string' },
        seed: { type: 'string' },
        dtype: { type: 'string' },
        'save-every': { type: 'string' },
        resume: { type: 'boolean' },
        eval: { type: 'string', multiple: true },
        'eval-split': { type: 'string' },
        classes: { type: 'boolean' },
      },
    }));
  } catch (e) {
    throw badOption(`${errorMessage(e)}\n${USAGE}`);
  }
  for (const name of ['data', 'model', 'out'] as const) {
    if (!values[name]) throw badOption(`--${name} is required\n${USAGE}`);
  }
  const splits = ['all', 'train', 'heldout'] as const;
  return {
    data: values.data!,
    split: oneOf('split', values.split, splits, 'all'),
    model: values.model!,
    out: values.out!,
    steps: numberOption('steps', values.steps, undefined, 'count'),
    batchSize: numberOption('batch-size', values['batch-size'], 4, 'count'),
    seqLength: values['seq-length'] === undefined ? undefined : numberOption('seq-length', values['seq-length'], undefined, 'count'),
    lr: numberOption('lr', values.lr, 1e-4, 'real'),
    warmup: numberOption('warmup', values.warmup, 0, 'integer'),
    weightDecay: numberOption('weight-decay', values['weight-decay'], 0.01, 'real'),
    maxGradNorm: numberOption('max-grad-norm', values['max-grad-norm'], 1, 'real'),
    seed: numberOption('seed', values.seed, 1, 'integer'),
    dtype: oneOf('dtype', values.dtype, ['f32', 'f16'] as const, 'f32'),
    saveEvery: numberOption('save-every', values['save-every'], 0, 'integer'),
    resume: values.resume ?? false,
    eval: values.eval ?? [],
    evalSplit: oneOf('eval-split', values['eval-split'], splits, 'all'),
    classes: values.classes ?? false,
  };
}

function readModelFile(dir: string, file: string, what = '--model'): Buffer {
  const path = join(dir, file);
  if (!existsSync(path)) throw new ImageGPTError('E_NOT_FOUND', `${what} ${dir}: no ${file}`);
  return readFileSync(path);
}

function parseJsonFile(bytes: Buffer, path: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ImageGPTError('E_BAD_FILE', `${path}: not valid JSON (${errorMessage(e)})`);
  }
}

/**
 * Writes a save's files as .partial files first and renames them only when all are written, the run state last:
 * a run stopped while saving leaves the previous save whole (only a stop between the renames, milliseconds, mixes).
 */
function writeTogether(files: Array<[path: string, bytes: Uint8Array | string]>): void {
  for (const [path, bytes] of files) writeFileSync(`${path}.partial`, bytes);
  for (const [path] of files) renameSync(`${path}.partial`, path);
}

/** f32 safetensors bytes (the trainer's save()) as the requested dtype; f16 overflow is an error, as in convert. */
async function weightsAs(f32: Uint8Array, dtype: OutputDType): Promise<Uint8Array> {
  if (dtype === 'f32') return f32;
  const file = parseSafetensors(f32);
  const tensors: Array<{ name: string; dtype: SafetensorsDType; shape: number[]; data: Uint8Array }> = [];
  for (const t of file.tensors.values()) {
    const half = convertTensor({ ...t, read: async () => t.data }, t.data, 'f16');
    tensors.push({ name: t.name, dtype: 'F16', shape: t.shape, data: half });
  }
  return writeSafetensors(tensors, file.metadata);
}

/** The tokens a step feeds for one image: SOS, then its first seqLength − 1 tokens (labels are the same ids). */
function trainingRow(tokens: number[], sos: number, seqLength: number): number[] {
  return [sos, ...tokens.slice(0, seqLength - 1)];
}

type EvalMetric = 'bits/token' | 'accuracy';

/** Rows classified at once by an eval: classify runs one forward per call. */
const CLASSIFY_BATCH = 16;

/** The causal model's mean bits per token over the images, or a classifier's accuracy on them. */
async function evaluate(model: ImageGPT, data: TrainingData, sos: number, seqLength: number): Promise<number> {
  if (!data.labels) {
    const { bitsPerToken } = await model.bitsPerToken(data.rows);
    return bitsPerToken.reduce((s, v) => s + v, 0) / bitsPerToken.length;
  }
  let right = 0;
  for (let start = 0; start < data.rows.length; start += CLASSIFY_BATCH) {
    const rows = data.rows.slice(start, start + CLASSIFY_BATCH);
    const logits = await model.classify(rows.map((r) => trainingRow(r, sos, seqLength)));
    right += rows.filter((_, i) => argmaxRow(logits, i, data.classNames!.length) === data.labels![start + i]).length;
  }
  return right / data.rows.length;
}

function argmaxRow(logits: Float32Array, row: number, width: number): number {
  let best = 0;
  for (let c = 1; c < width; c++) if (logits[row * width + c] > logits[row * width + best]) best = c;
  return best;
}

/** Whether a safetensors file holds a classifier's head. */
function hasScoreHead(weights: Uint8Array): boolean {
  return parseSafetensors(weights).tensors.has('score.weight');
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Runs the whole command; throws ImageGPTErrors with codes (main prints them). */
export async function train(args: string[], io: TrainIO = {}): Promise<TrainResult> {
  const log = io.log ?? ((line: string) => console.log(line));
  const opts = parseTrainArgs(args);
  const { out } = opts;

  // The model folder: the preprocessor from --model; config and weights from it, or from --out when resuming.
  const preprocessorBytes = readModelFile(opts.model, 'preprocessor_config.json');
  const processor = ImageGPTImageProcessor.fromConfig(
    parseJsonFile(preprocessorBytes, join(opts.model, 'preprocessor_config.json')) as PreprocessorConfig,
    join(opts.model, 'preprocessor_config.json'),
  );

  let state: RunState | undefined;
  if (opts.resume) {
    const path = join(out, STATE_JSON);
    if (!existsSync(path)) throw new ImageGPTError('E_NOT_FOUND', `--resume: ${out} has no ${STATE_JSON} (no run to continue there)`);
    state = parseJsonFile(readFileSync(path), path) as RunState;
  } else if (existsSync(join(out, STATE_JSON))) {
    throw badOption(`--out ${out} already holds a run (${STATE_JSON}): pass --resume to continue it, or choose another --out`);
  }
  const [configDir, configWhat] = state ? [out, '--out'] : [opts.model, '--model'];
  const configJson = parseJsonFile(readModelFile(configDir, 'config.json', configWhat), join(configDir, 'config.json'));
  const weights = new Uint8Array(state ? readModelFile(out, state.weightsFile, '--out') : readModelFile(opts.model, 'model.safetensors'));
  const classifierWeights = hasScoreHead(weights);
  if (classifierWeights && !opts.classes) {
    throw new ImageGPTError('E_MISMATCH', `${configWhat} ${configDir} is a classifier (its weights have score.weight): train it with --classes and a folder per class`);
  }

  const read = (path: string, what: string, split: TokenSplit) =>
    opts.classes ? Promise.resolve(readClassFolders(path, processor, what)) : readTrainingData(path, what, processor, split);
  const data = await read(opts.data, '--data', opts.split);
  const evalSets: TrainingData[] = [];
  for (const path of opts.eval) evalSets.push(await read(path, '--eval', opts.evalSplit));
  for (const set of evalSets) {
    if (data.classNames && set.classNames!.join('\n') !== data.classNames.join('\n')) {
      throw new ImageGPTError('E_MISMATCH', `--eval has classes ${set.classNames!.join(', ')}; --data has ${data.classNames.join(', ')}`);
    }
  }

  const ownDevice = io.device === undefined;
  const gpu = io.device ?? (await createNodeDevice()).device;
  let model = await ImageGPT.fromPretrained({ config: configJson, weights }, { device: gpu, dtype: 'f32' });
  let trainer: Trainer | undefined;
  try {
    if (data.classNames && !classifierWeights) {
      // A causal model: a classifier of its body with a fresh, seeded score head; the causal model is not needed after.
      const id2label = Object.fromEntries(data.classNames.map((name, i) => [i, name]));
      const base = model;
      model = await ImageGPT.forImageClassification(base, { numLabels: data.classNames.length, id2label, seed: opts.seed });
      base.dispose();
    } else if (data.classNames) {
      const names = Object.values(model.config.id2label ?? {});
      if (names.join('\n') !== data.classNames.join('\n')) {
        throw new ImageGPTError('E_MISMATCH', `${configWhat} ${configDir} classifies ${names.length} classes (${names.join(', ')}); --data has the folders ${data.classNames.join(', ')}`);
      }
    }
    const { config } = model;
    if (processor.numClusters !== config.vocab_size - 1 || processor.size.height * processor.size.width !== config.n_positions) {
      throw new ImageGPTError(
        'E_MISMATCH',
        `--model ${opts.model}: preprocessor_config.json has ${processor.numClusters} clusters and ${processor.size.width}×${processor.size.height} images, ` +
          `config.json vocab_size ${config.vocab_size} (${config.vocab_size - 1} colors + SOS) and n_positions ${config.n_positions}`,
      );
    }
    const seqLength = opts.seqLength ?? config.n_positions;
    const { batchSize, steps } = opts;
    if (state) {
      const mismatch = (['seed', 'batchSize', 'seqLength'] as const).find((k) => state![k] !== { seed: opts.seed, batchSize, seqLength }[k]);
      if (mismatch) throw badOption(`--resume: the run in ${out} used ${mismatch} ${state[mismatch]}, this command ${({ seed: opts.seed, batchSize, seqLength })[mismatch]}`);
      if (state.images !== data.rows.length) throw badOption(`--resume: the run in ${out} trained on ${state.images} images, --data has ${data.rows.length}`);
      if (state.step >= steps) throw badOption(`--resume: the run in ${out} is at step ${state.step}; --steps ${steps} leaves nothing to do`);
    }
    const schedule = { lr: opts.lr, warmup: opts.warmup, totalSteps: steps };
    trainer = model.createTrainer({ batchSize, seqLength, lr: (step) => learningRate(step, schedule), weightDecay: opts.weightDecay, maxGradNorm: opts.maxGradNorm });
    if (state) await trainer.loadState(readModelFile(out, STATE_TENSORS, '--out'));
    const order = new DataOrder(data.rows.length, opts.seed, state?.data);
    mkdirSync(out, { recursive: true });
    const logPath = join(out, LOG_FILE);
    const record = (entry: object) => appendFileSync(logPath, `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);

    log(`data: ${data.description}`);
    for (const set of evalSets) log(`eval: ${set.description}`);
    log(`model: ${opts.model}: ${config.n_layer} layers, n_embd ${config.n_embd}; batch ${batchSize} × ${seqLength} tokens; trainer GPU memory ${(trainer.gpuBytes / 1e6).toFixed(1)} MB`);
    const result: TrainResult = { step: trainer.stepCount, evals: [] };
    const metric: EvalMetric = data.labels ? 'accuracy' : 'bits/token';
    const metricKey = data.labels ? 'accuracy' : 'bitsPerToken';
    for (let i = 0; i < evalSets.length; i++) {
      const value = await evaluate(model, evalSets[i], processor.sosToken, seqLength);
      result.evals.push({ path: opts.eval[i], images: evalSets[i].rows.length, metric, before: value });
      log(`eval at step ${trainer.stepCount}: ${metric} ${value.toFixed(4)} on ${evalSets[i].rows.length} images of ${opts.eval[i]}`);
      record({ event: 'eval', step: trainer.stepCount, data: opts.eval[i], [metricKey]: value, images: evalSets[i].rows.length });
    }

    // What the last save wrote: the model the after-training evals read.
    let written: { config: object; weights: Uint8Array } | undefined;
    const save = async () => {
      const f32 = await trainer!.save();
      const weightsFile = opts.dtype === 'f32' ? 'model.safetensors' : 'trainer-weights.safetensors';
      const torchDtype = opts.dtype === 'f32' ? 'float32' : 'float16';
      const runState: RunState = { step: trainer!.stepCount, data: order.position, seed: opts.seed, batchSize, seqLength, images: data.rows.length, weightsFile };
      // A classifier made here has a new config (num_labels, id2label); JSON.stringify of it is its config.json.
      written = { config: { ...(data.labels ? model.config : (configJson as object)), torch_dtype: torchDtype }, weights: await weightsAs(f32, opts.dtype) };
      const files: Array<[string, Uint8Array | string]> = [
        [join(out, 'model.safetensors'), written.weights],
        [join(out, 'config.json'), `${JSON.stringify(written.config, null, 2)}\n`],
        [join(out, 'preprocessor_config.json'), preprocessorBytes],
        [join(out, STATE_TENSORS), await trainer!.saveState()],
      ];
      // With f16 weights written, resuming needs the f32 master weights beside them.
      if (opts.dtype !== 'f32') files.push([join(out, weightsFile), f32]);
      files.push([join(out, STATE_JSON), `${JSON.stringify(runState, null, 2)}\n`]);
      writeTogether(files);
      log(`saved ${out} at step ${trainer!.stepCount} (${opts.dtype})`);
    };

    const tokensPerStep = batchSize * (seqLength - 1);
    const first = trainer.stepCount;
    const started = performance.now();
    for (let step = first + 1; step <= steps; step++) {
      const batch = order.next(batchSize);
      const ids = batch.map((i) => trainingRow(data.rows[i], processor.sosToken, seqLength));
      const t0 = performance.now();
      // The causal model's labels are its ids (the default); a classifier's are the rows' classes.
      const { loss, gradNorm, logits } = await trainer.step(ids, data.labels ? { labels: batch.map((i) => data.labels![i]) } : {});
      const seconds = (performance.now() - t0) / 1000;
      const perStep = (performance.now() - started) / 1000 / (step - first);
      const lr = learningRate(step, schedule);
      // A classifier's loss is per image (nats); the causal model's per token, so also in bits per token.
      const bits = data.labels ? undefined : loss / Math.LN2;
      const right = logits ? batch.filter((i, b) => argmaxRow(logits, b, data.classNames!.length) === data.labels![i]).length : undefined;
      const quality = bits !== undefined ? ` (${bits.toFixed(4)} bits/token)` : `  batch accuracy ${right}/${batchSize}`;
      log(`step ${step}/${steps}  loss ${loss.toFixed(4)} nats${quality}  grad norm ${gradNorm.toFixed(3)}  lr ${lr.toExponential(2)}  ` +
        `${Math.round(tokensPerStep / seconds)} tokens/s  ETA ${duration(perStep * (steps - step))}`);
      record({ step, loss, ...(bits !== undefined ? { bitsPerToken: bits } : { batchAccuracy: right! / batchSize }), gradNorm, lr, seconds, tokensPerSecond: tokensPerStep / seconds });
      result.lastLoss = loss;
      if (!Number.isFinite(loss)) throw new ImageGPTError('E_BAD_INPUT', `step ${step}: the loss is ${loss}; stopping (try a smaller --lr)`);
      if (opts.saveEvery > 0 && step % opts.saveEvery === 0 && step < steps) await save();
    }
    await save();
    result.step = trainer.stepCount;
    // The f32 model in memory is what an f32 file holds; f16 weights are evaluated as written and loaded as f16,
    // after the trainer's buffers (AdamW's moments, activations) are freed, so a run that fit still fits.
    trainer.dispose();
    trainer = undefined;
    const evalModel = evalSets.length > 0 && opts.dtype !== 'f32'
      ? await ImageGPT.fromPretrained({ config: written!.config, weights: written!.weights }, { device: gpu, dtype: 'f16' })
      : model;
    try {
      for (let i = 0; i < evalSets.length; i++) {
        const e = result.evals[i];
        e.after = await evaluate(evalModel, evalSets[i], processor.sosToken, seqLength);
        log(`eval at step ${result.step}: ${metric} ${e.after.toFixed(4)} on ${e.images} images of ${e.path} (${opts.dtype} weights as written; at step ${first}: ${e.before.toFixed(4)})`);
        record({ event: 'eval', step: result.step, data: e.path, [metricKey]: e.after, images: e.images, dtype: opts.dtype });
      }
    } finally {
      if (evalModel !== model) evalModel.dispose();
    }
    return result;
  } finally {
    trainer?.dispose();
    model.dispose();
    if (ownDevice) gpu.destroy();
  }
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  try {
    await train(args);
    return 0;
  } catch (e) {
    console.error(`train: [${errorCode(e) ?? 'error'}] ${errorMessage(e)}`);
    return errorCode(e) === 'E_BAD_INPUT' ? 2 : 1;
  }
}
