// `npm run bench -- --train`: the training step on the GPU (src/train) for three shapes: the tiny test model, the
// shipped emoji-16 model's shape, and an imagegpt-small-shaped model (2 layers and 256 tokens on a CPU adapter;
// 24 layers, batch 8 × 1024 on a real GPU). Per shape: step time and tokens/s, dispatches per layer (forward,
// backward, optimizer), submits and readbacks per step, GPU bytes the trainer made ÷ (4 × weights + activations)
// counted from the buffers really created, and the same step in PyTorch on this machine's CPU (when Debian's
// python3-torch is there) as a side-by-side ratio, and where the device has timestamp-query, one more step's GPU time
// per kernel kind (kernelMs). Weights are random (timing needs shapes, not values).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ImageGPT } from '../src/model/imagegpt';
import { randomCheckpoint } from './common';
import { trainingBytes } from '../src/train/graph';

type Json = Record<string, unknown>;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, digits = 3): number => Number(x.toPrecision(digits));

interface Shape {
  name: string;
  config: Record<string, unknown>;
  batch: number;
  seq: number;
}

function shapes(cpu: boolean): Shape[] {
  const tiny = JSON.parse(readFileSync('test/fixtures/tiny/config.json', 'utf8')) as Record<string, unknown>;
  const emoji16 = JSON.parse(readFileSync('models/emoji-16/config.json', 'utf8')) as Record<string, unknown>;
  const small = { ...tiny, n_positions: 1024, n_embd: 512, n_layer: cpu ? 2 : 24, n_head: 8 };
  return [
    { name: 'tiny', config: tiny, batch: 4, seq: 64 },
    { name: 'emoji-16 shape', config: emoji16, batch: 8, seq: 257 > (emoji16.n_positions as number) ? (emoji16.n_positions as number) : 257 },
    { name: `imagegpt-small shape (${small.n_layer} layers)`, config: small, batch: cpu ? 1 : 8, seq: cpu ? 256 : 1024 },
  ];
}

/** PyTorch's median step time on the CPU for the same shape, or null where torch is not installed. */
function torchStepMs(s: Shape, steps: number): number | null {
  try {
    const out = execFileSync('/usr/bin/python3', ['weights-tools/bench_train_torch.py', '--config', JSON.stringify(s.config), '--batch', String(s.batch), '--seq', String(s.seq), '--steps', String(steps)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return (JSON.parse(out.trim().split('\n').pop()!) as { stepMs: number }).stepMs;
  } catch (e) {
    console.log(`  (PyTorch side skipped: ${(e as Error).message.split('\n')[0]})`);
    return null;
  }
}

/** A pipeline's kind for the profile: its kernel file with the variant that ran, and entry point
 *  ('train_matmul.wgsl/registers trainMatmul dW'). */
function kernelKind(label: string): string {
  const m = /^(\S+) \((\w+), (\{.*\})\)$/.exec(label);
  if (!m) return label;
  const constants = JSON.parse(m[3]) as Record<string, number>;
  const product = m[2] === 'trainMatmul' ? (constants.TRANS_A ? ' dW = Xᵀ·dY' : constants.TRANS_B ? ' dX = dY·Wᵀ' : ' forward') : '';
  return `${m[1]} ${m[2]}${product}`;
}

/**
 * GPU milliseconds of one training step per kernel kind (timestamp-query), largest first. For this one step the
 * step's compute pass is split into a pass per pipeline change, each with timestamps at its beginning and end
 * (profiling only: the extra passes and queries are made here, not by the trainer).
 */
async function profileStep(device: GPUDevice, step: () => Promise<unknown>): Promise<Record<string, number>> {
  const max = 4096; // timestamps: two per pass
  const querySet = device.createQuerySet({ type: 'timestamp', count: max });
  const resolved = device.createBuffer({ size: max * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: max * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const kinds: string[] = [];
  const create = device.createCommandEncoder.bind(device);
  device.createCommandEncoder = (descriptor?: GPUCommandEncoderDescriptor) => {
    const encoder = create(descriptor);
    const forward = (target: object, prop: string | symbol): unknown => {
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    };
    const timedPass = (): GPUComputePassEncoder => {
      let current: GPUComputePassEncoder | null = null;
      return new Proxy({} as GPUComputePassEncoder, {
        get: (_, prop) => {
          if (prop === 'setPipeline') {
            return (pipeline: GPUComputePipeline) => {
              current?.end();
              const i = kinds.length;
              if (2 * i + 2 > max) throw new Error(`bench: more than ${max / 2} passes to time in one step`);
              kinds.push(kernelKind(pipeline.label));
              current = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
              current.setPipeline(pipeline);
            };
          }
          if (prop === 'end') return () => current?.end();
          if (!current) throw new Error(`bench: the step's pass called ${String(prop)} before any setPipeline`);
          return forward(current, prop);
        },
      });
    };
    return new Proxy(encoder, {
      get: (target, prop) => {
        if (prop === 'beginComputePass') return timedPass;
        if (prop === 'finish') {
          return (d?: GPUCommandBufferDescriptor) => {
            if (kinds.length > 0) {
              target.resolveQuerySet(querySet, 0, 2 * kinds.length, resolved, 0);
              target.copyBufferToBuffer(resolved, 0, readback, 0, 16 * kinds.length);
            }
            return target.finish(d);
          };
        }
        return forward(target, prop);
      },
    });
  };
  try {
    await step();
  } finally {
    device.createCommandEncoder = create;
  }
  await readback.mapAsync(GPUMapMode.READ);
  const t = new BigUint64Array(readback.getMappedRange().slice(0));
  readback.unmap();
  const ms: Record<string, number> = {};
  kinds.forEach((kind, i) => {
    const ns = t[2 * i + 1] >= t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
    ms[kind] = (ms[kind] ?? 0) + ns / 1e6;
  });
  querySet.destroy();
  resolved.destroy();
  readback.destroy();
  return Object.fromEntries(Object.entries(ms).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v)]));
}

export async function benchTraining(device: GPUDevice, opts: { quick: boolean; cpu: boolean }): Promise<Json> {
  const out: Json = {};
  for (const s of shapes(opts.cpu)) {
    const { config, weights } = randomCheckpoint(s.config);
    const model = await ImageGPT.fromPretrained({ config: s.config, weights }, { device, dtype: 'f32' });
    // Count what the trainer really allocates.
    let made = 0;
    const create = device.createBuffer.bind(device);
    device.createBuffer = (d: GPUBufferDescriptor) => {
      made += d.size;
      return create(d);
    };
    const trainer = model.createTrainer({ batchSize: s.batch, seqLength: s.seq, lr: 1e-4 });
    device.createBuffer = create;
    const ids = Array.from({ length: s.batch }, () => [512, ...Array.from({ length: s.seq - 1 }, (_, t) => (t * 37 + 11) % 512)]);
    let submits = 0;
    const submit = device.queue.submit.bind(device.queue);
    device.queue.submit = (b: Iterable<GPUCommandBuffer>) => {
      submits++;
      submit(b);
    };
    await trainer.step(ids); // warm-up: pipelines compile
    const steps = opts.quick ? 2 : 4;
    const times: number[] = [];
    submits = 0;
    for (let k = 0; k < steps; k++) {
      const t0 = performance.now();
      await trainer.step(ids);
      times.push(performance.now() - t0);
    }
    device.queue.submit = submit;
    const stepMs = median(times);
    // One more step, each kernel timed on its own (where the device has timestamps): what the step's time goes to.
    const kernelMs = device.features.has('timestamp-query') ? await profileStep(device, () => trainer.step(ids)) : null;
    const bytes = trainingBytes(config, s.batch, s.seq);
    const counts = trainer.dispatchCounts;
    const L = config.n_layer;
    const torchMs = torchStepMs(s, opts.quick ? 2 : 3);
    const r: Json = {
      batch: s.batch,
      seq: s.seq,
      layers: L,
      stepMs: round(stepMs),
      tokensPerSecond: round((s.batch * s.seq) / (stepMs / 1000)),
      // Outside the blocks: forward embed + ln_f + head + loss + its sum (5); backward head (2) + ln_f + embeddings (4);
      // optimizer wte, wpe, lm_head (2 each) + the norm's total (7).
      dispatchesPerLayer: { forward: round((counts.forward - 5) / L), backward: round((counts.backward - 4) / L), optimizer: round((counts.optimizer - 7) / L) },
      dispatches: counts,
      submitsPerStep: submits / steps,
      readbacksPerStep: 1,
      gpuBytesOverFourWeightsPlusActivations: round((made + bytes.weights) / (4 * bytes.weights + bytes.activations)),
      trainerGpuMB: round(made / 2 ** 20),
      pytorchCpuStepMs: torchMs === null ? null : round(torchMs),
      pytorchCpuOverOurs: torchMs === null ? null : round(torchMs / stepMs),
      // GPU ms of a profiled step per kernel kind, largest first (passes split per kernel: they add up to about a step).
      kernelMs,
    };
    out[s.name] = r;
    console.log(`\n== training: ${s.name}, batch ${s.batch} × ${s.seq}`);
    console.log(JSON.stringify(r, null, 1));
    trainer.dispose();
    model.dispose();
  }
  return out;
}
