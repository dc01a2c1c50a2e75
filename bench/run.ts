// `npm run bench`: speed and memory of the kernels, the model, generation and the processor, as
// ratios measured in one run on one device. Writes bench/results.json.
//   --quick        fewer iterations and shapes
//   --layers N     layers of the imagegpt-small-shaped model (default: 24 on a real GPU, 2 on SwiftShader)
//   --decode       only the decode benchmark (fused vs unfused kernels, bench/decode.ts), quickly; writes bench/decode.json
//   --load         only the checkpoint-loading benchmark instead (bench/load.ts: its own flags; bench/load.json)
//   --train        only the training step (bench/train.ts: step time, dispatches, memory, PyTorch on the CPU beside it)
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { ImageGPT } from '../src/model/imagegpt';
import type { ImageGPTConfig } from '../src/model/config';
import { sampleOnCpu, counterUniform, resolveSampling } from '../src/model/sampling';
import type { GenerateStats } from '../src/model/tasks/generate-plan';
import type { StepShape } from '../src/gpu/types';
import { decodeStepMs, median, randomCheckpoint } from './common';
import { createNodeDevice } from '../scripts/node-webgpu';
import { isCpuAdapter } from '../src/gpu/tuning';
import { stepCounts } from './gpu-profile';
import { benchDecodeFusion } from './decode';

type Json = Record<string, unknown>;
const round = (x: number, d = 3): number => Number(x.toFixed(d));

async function timeIt(repeats: number, fn: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

function randomIds(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % 512;
  });
}

interface ModelSpec {
  name: string;
  config: ImageGPTConfig;
  configJson: Json;
  weights: Uint8Array;
  note?: string;
}

function randomModel(name: string, configJson: Json, note?: string): ModelSpec {
  const { config, weights } = randomCheckpoint(configJson);
  return { name, config, configJson, weights, note };
}


/** One decode step vs the sum of its kernels run alone (each op repeated in one pass). */
async function stepVsKernels(model: ImageGPT, position: number, repeats: number): Promise<Json> {
  const device = model.device;
  const session = model.createSession(1, { maxLength: position + 2 });
  try {
    await session.prefill([randomIds(position, 3)]);
    const step: StepShape = session.runner.writeStepOnly(1);
    const ops = session.runner.forwardPlan.allOps();
    const timeOps = async (list: typeof ops, n: number): Promise<number> => {
      const t0 = performance.now();
      for (let r = 0; r < n; r++) {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (const op of list) op.encode(pass, step);
        pass.end();
        device.queue.submit([enc.finish()]);
      }
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / n;
    };
    // Standalone: each kernel alone, many dispatches in one submit, so per-submit cost is spread thin.
    const alone = async (op: (typeof ops)[number]): Promise<number> => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let r = 0; r < repeats; r++) op.encode(pass, step);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / repeats;
    };
    await timeOps(ops, 2);
    let sum = 0;
    const perKind: Record<string, number> = {};
    for (const op of ops) {
      await alone(op); // warm
      const t = await alone(op);
      sum += t;
      const kind = op.label.replace(/\[.*$/, '');
      perKind[kind] = (perKind[kind] ?? 0) + t;
    }
    const stepMs = await timeOps(ops, repeats);
    return { stepMs: round(stepMs), kernelsSumMs: round(sum), ratio: round(stepMs / sum), dispatches: ops.length, perKindMs: Object.fromEntries(Object.entries(perKind).map(([k, v]) => [k, round(v)])) };
  } finally {
    session.dispose();
  }
}

/** Dispatches and passes of a decode step (near and far in the cache) and of a prefill chunk, per layer and in all. */
async function dispatchCounts(model: ImageGPT, near: number, far: number): Promise<Json> {
  const out: Json = {};
  const session = model.createSession(1);
  try {
    await session.runner.ready();
    const shapes: [string, StepShape][] = [
      [`decodePos${near}`, { batch: 1, seq: 1, past: near }],
      [`decodePos${far}`, { batch: 1, seq: 1, past: far }],
      ['prefillChunk', { batch: 1, seq: Math.min(session.runner.chunkLength, model.config.n_positions), past: 0 }],
    ];
    for (const [name, shape] of shapes) {
      const c = stepCounts(model, session, shape);
      out[name] = { tokens: shape.seq, dispatches: c.step.dispatches, dispatchesPerLayer: c.dispatchesPerLayer, outsideBlocks: c.dispatchesOutsideBlocks, passes: c.passes };
    }
  } finally {
    session.dispose();
  }
  return out;
}

/** Naive generation: the full prefix through forward() every step, sampling on the CPU. */
async function naiveGenerate(model: ImageGPT, batch: number, tokens: number): Promise<number> {
  const sampling = resolveSampling({ seed: 5, topK: 40 });
  const rows = Array.from({ length: batch }, () => [model.config.vocab_size - 1]);
  const V1 = model.config.vocab_size - 1;
  const t0 = performance.now();
  for (let i = 0; i < tokens; i++) {
    const { logits } = await model.forward(rows);
    const T = rows[0].length;
    rows.forEach((row, b) => {
      const last = logits.subarray((b * T + T - 1) * V1, (b * T + T) * V1);
      row.push(sampleOnCpu(last, V1, sampling, counterUniform(sampling.seed, T, b)));
    });
  }
  return (performance.now() - t0) / 1000;
}

async function benchModel(device: GPUDevice, spec: ModelSpec, quick: boolean, big: boolean): Promise<Json> {
  const out: Json = { name: spec.name, n_layer: spec.config.n_layer, n_embd: spec.config.n_embd, n_positions: spec.config.n_positions };
  if (spec.note) out.note = spec.note;
  const P = spec.config.n_positions;
  const params = (spec.weights.byteLength - 8) / 4; // ≈ (header is tiny)
  for (const dtype of ['f32', 'f16'] as const) {
    const model = await ImageGPT.fromPretrained({ config: spec.configJson, weights: spec.weights }, { device, dtype });
    const r: Json = {};
    try {
      const t0 = performance.now();
      const s = model.createSession(1);
      await s.runner.ready();
      r.sessionSetupMs = round(performance.now() - t0, 1);
      // Memory: what the model allocated vs what it needs (weights + KV cache + activations).
      const { n_embd: E, n_inner: I, n_layer: L } = spec.config;
      const kv = 2 * L * P * E * 4;
      const acts = s.maxRows * (E * 4 + 3 * E + I + 512) * 4 + 4 * s.maxRows + E * 4;
      const mem = model.memory();
      r.memory = {
        weightBytes: mem.weightBytes,
        weightBytesIfF32: Math.round(params * 4),
        sessionBytes: mem.sessionBytes,
        kvCacheBytes: kv,
        activationBytes: acts,
        totalBytes: mem.totalBytes,
        ratioToNeeded: round(mem.totalBytes / (mem.weightBytes + kv + acts)),
      };
      s.dispose();

      r.prefill1x_ms = round(await timeIt(quick ? 1 : 3, async () => {
        const ss = model.createSession(1);
        await ss.prefill([randomIds(P, 9)]);
        ss.dispose();
      }), 1);
      r.prefillTokens = P;
      const steps = quick ? 8 : 24;
      const near = Math.min(10, P - steps - 2);
      const far = Math.min(1000, P - steps - 2);
      const decode: Json = {};
      for (const B of big && quick ? [1] : [1, 8]) {
        const a = await decodeStepMs(model, B, near, steps);
        const b = await decodeStepMs(model, B, far, steps);
        decode[`batch${B}`] = { [`pos${near}_ms`]: round(a), [`pos${far}_ms`]: round(b), farOverNear: round(b / a) };
      }
      r.decodePerToken = decode;
      r.dispatches = await dispatchCounts(model, near, far);
      r.stepVsKernels = await stepVsKernels(model, near, quick ? 10 : 30);
      const featImages = 4;
      r.featuresPerImage_ms = round(
        (await timeIt(quick ? 1 : 2, async () => {
          await model.features(Array.from({ length: featImages }, (_, b) => randomIds(P, 40 + b)), { layer: Math.floor(spec.config.n_layer / 2) });
        })) / featImages,
        1,
      );
      // Generation vs the naive loop, same token count.
      const gen: Json = {};
      const genTokens = Math.min(P, big ? (quick ? 16 : 48) : quick ? 64 : 128);
      for (const B of big ? [1, 8, 32] : [1, 8, 32]) {
        const stats: GenerateStats = { submits: 0, readbacks: 0, steps: 0 };
        await model.generate({ batchSize: B, maxNewTokens: Math.min(8, genTokens), seed: 1 }); // warm
        const t0 = performance.now();
        await model.generate({ batchSize: B, maxNewTokens: genTokens, seed: 1, stats });
        const sec = (performance.now() - t0) / 1000;
        gen[`batch${B}`] = {
          tokens: genTokens,
          tokensPerSecond: round((B * genTokens) / sec, 1),
          submitsPerToken: round(stats.submits / genTokens),
          readbacksPerRow: round(stats.readbacks / Math.ceil(genTokens / Math.round(Math.sqrt(P)))),
        };
      }
      // The same job both ways: the naive loop generates as many tokens as the GPU loop did.
      const naiveTokens = genTokens;
      for (const B of [1, 8]) {
        const sec = await naiveGenerate(model, B, naiveTokens);
        const naiveTps = (B * naiveTokens) / sec;
        const g = gen[`batch${B}`] as Json;
        g.naiveTokensPerSecond = round(naiveTps, 2);
        g.naiveTokens = naiveTokens;
        g.speedupOverNaive = round((g.tokensPerSecond as number) / naiveTps, 1);
      }
      r.generation = gen;
    } finally {
      model.dispose();
    }
    out[dtype] = r;
    console.log(`\n== ${spec.name} (${spec.config.n_layer} layers, E ${spec.config.n_embd}), ${dtype}`);
    console.log(JSON.stringify(r, null, 1));
  }
  const f32 = (out.f32 as Json).memory as Json;
  const f16 = (out.f16 as Json).memory as Json;
  out.f16WeightsOverF32 = round((f16.weightBytes as number) / (f32.weightBytes as number));
  return out;
}

export async function main(args: string[]): Promise<number> {
  // --load: only the checkpoint-loading benchmark (bench/load.ts), nothing else.
  if (args.includes('--load')) return (await import('./load')).main(args.filter((a) => a !== '--load'));
  const quick = args.includes('--quick');
  const decodeOnly = args.includes('--decode');
  const li = args.indexOf('--layers');
  // The optional features the runtime may use, and timestamps for the per-kernel times.
  const { device, info, features } = await createNodeDevice({ optionalFeatures: ['timestamp-query', 'shader-f16', 'subgroups'] });
  const cpu = isCpuAdapter(info); // SwiftShader, lavapipe: 2 layers and quick kernels by default
  const layers = li >= 0 ? Number(args[li + 1]) : cpu ? 2 : 24;
  if (!Number.isInteger(layers) || layers < 1) throw new Error(`bench: --layers must be a positive integer, got ${JSON.stringify(args[li + 1])}`);
  const timestamps = features.includes('timestamp-query');
  const results: Json = {
    date: new Date().toISOString(),
    device: { vendor: info.vendor, architecture: info.architecture, description: info.description, features },
    runtime: `Node ${process.version}, Dawn (npm webgpu)`,
    quick: quick || decodeOnly,
    notes: [] as string[],
  };
  const notes = results.notes as string[];
  console.log(`device: ${info.vendor} ${info.architecture} ${info.description ?? ''}; features: ${features.join(', ') || 'none'}`);
  if (!timestamps) notes.push('no timestamp-query on this adapter: decode times are wall time only');
  if (args.includes('--train')) {
    // --train: only the training step (bench/train.ts); writes bench/train.json.
    results.training = await (await import('./train')).benchTraining(device, { quick, cpu });
    writeFileSync('bench/train.json', JSON.stringify(results, null, 2) + '\n');
    console.log('\nwrote bench/train.json');
    device.destroy();
    return 0;
  }
  if (decodeOnly) {
    results.decodeFusion = await benchDecodeFusion(device, { quick: true, layers, timestamps });
    writeFileSync('bench/decode.json', JSON.stringify(results, null, 2) + '\n');
    console.log('\nwrote bench/decode.json');
    device.destroy();
    return 0;
  }
  if (existsSync('bench/kernels.ts')) {
    const { benchKernels } = (await import('./kernels')) as { benchKernels: (d: GPUDevice, o: { quick?: boolean }) => Promise<Json> };
    results.kernels = await benchKernels(device, { quick: quick || cpu });
  }
  if (existsSync('bench/processor.ts')) {
    const { benchProcessor } = (await import('./processor')) as { benchProcessor: () => Promise<Json> };
    results.processor = await benchProcessor();
  }
  const tinyJson = JSON.parse(readFileSync('test/fixtures/tiny/config.json', 'utf8')) as Json;
  const models: Json[] = [];
  models.push(await benchModel(device, randomModel('tiny (test fixture shapes, random weights)', tinyJson), quick, false));
  const smallNote = layers < 24 ? `imagegpt-small shapes with ${layers} of 24 layers (SwiftShader is a CPU: the full model would take too long here)` : undefined;
  if (smallNote) notes.push(smallNote);
  const small = randomModel(
    `imagegpt-small-shaped (E 512, H 8, ${layers} layers, random weights)`,
    { model_type: 'imagegpt', n_embd: 512, n_head: 8, n_layer: layers, n_positions: 1024, vocab_size: 513 },
    smallNote,
  );
  models.push(await benchModel(device, small, quick, true));
  results.models = models;
  results.decodeFusion = await benchDecodeFusion(device, { quick, layers, timestamps });
  writeFileSync('bench/results.json', JSON.stringify(results, null, 2) + '\n');
  console.log('\nwrote bench/results.json');
  device.destroy();
  return 0;
}
