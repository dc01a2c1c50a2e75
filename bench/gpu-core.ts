// `npm run bench:gpu`'s measurements, for any `GPU` (Dawn in Node, navigator.gpu in Chromium): the full
// imagegpt-small shape with random f16 weights, decode at several batches near the start of the cache and
// near position 1000: step time, tokens/s, dispatches and passes per step and per layer, per-kernel GPU time
// (timestamp-query), and generate()'s own figures. No Node imports: bench/gpu-browser.ts runs it in a page.
import { ImageGPT } from '../src/model/imagegpt';
import { adapterProblem, isSwiftShader, requestLargestDevice } from '../scripts/webgpu-device';
import { isCpuAdapter } from '../src/gpu/tuning';
import { randomF16Checkpoint } from './common';
import { countDevice, loadWithTuning, profileDecode, stepCounts, zeroCounts, type DecodeProfile, type StepCounts, type TunedLoadOptions } from './gpu-profile';

export interface GpuBenchOptions {
  /** Transformer blocks (default 24 = imagegpt-small; 2 on SwiftShader, a CPU). */
  layers?: number;
  batches?: number[];
  /** Cache positions of the near and far decode steps (default 10 and 1000). */
  positions?: [number, number];
  /** Decode steps timed per shape (default 20 on a GPU, 6 on SwiftShader), and steps timed with timestamps (8; 2). */
  steps?: number;
  timedSteps?: number;
  /** Tokens generate() makes per batch (default 64 on a GPU, 12 on SwiftShader); 0 skips it. */
  generateTokens?: number;
  /** Fail unless the adapter is a real GPU (IMAGEGPT_REAL_GPU=1). */
  requireRealGpu?: boolean;
  tuning?: TunedLoadOptions['tuning'];
  /** Progress lines (the table is printed by the caller). */
  log?: (line: string) => void;
}

export interface DecodeRow extends DecodeProfile {
  /** far step time / near step time, on the far row. */
  farOverNear?: number;
}

export interface GpuBenchResult {
  date: string;
  adapter: { vendor: string; architecture: string; description: string; swiftshader: boolean };
  adapterFeatures: string[];
  /** Of shader-f16, subgroups and timestamp-query: what the device was made with. */
  deviceFeatures: string[];
  /** Whether the kernels use shader-f16 / subgroups (model.deviceFeatures: the device has it and the tuning allows it). */
  kernelFeatures: Record<string, boolean>;
  model: { n_layer: number; n_embd: number; n_head: number; n_positions: number; vocab_size: number; dtype: 'f16'; note?: string };
  tuning: Record<string, unknown>;
  loadMs: number;
  prefill: { tokensPerChunk: number; counts: StepCounts };
  decode: DecodeRow[];
  generate: { batch: number; tokens: number; tokensPerSecond: number; dispatchesPerStep: number; passesPerStep: number; submitsPerStep: number }[];
  timestamps: boolean;
  notes: string[];
  totalSeconds: number;
}

const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups'];

export async function runGpuBench(gpu: GPU, o: GpuBenchOptions = {}): Promise<GpuBenchResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  const notes: string[] = [];
  const noAdapter = o.requireRealGpu
    ? 'bench:gpu: no WebGPU adapter. With IMAGEGPT_REAL_GPU=1 the GPU must come from its own Vulkan driver (check `vulkaninfo`; ' +
      'in Chromium, the GPU flags); without the flag the run uses SwiftShader.'
    : 'bench:gpu: no WebGPU adapter (run through `npm run bench:gpu`, which points Dawn at SwiftShader when there is no GPU)';
  const { device, info, adapterFeatures, features } = await requestLargestDevice(gpu, { optionalFeatures: WANTED_FEATURES }, noAdapter);
  const swiftshader = isSwiftShader(info);
  const cpu = isCpuAdapter(info); // SwiftShader, lavapipe: a CPU, so fewer layers and steps by default
  try {
    const notReal = o.requireRealGpu ? adapterProblem(info, undefined, true) : null; // refuses any CPU adapter
    if (notReal) throw new Error(`bench:gpu: ${notReal}`);
    const layers = o.layers ?? (cpu ? 2 : 24);
    const configJson = { model_type: 'imagegpt', n_embd: 512, n_head: 8, n_layer: layers, n_positions: 1024, vocab_size: 513 };
    const note = layers < 24 ? `imagegpt-small shapes with ${layers} of 24 layers (the adapter is a CPU; --layers sets it)` : undefined;
    if (note) notes.push(note);
    const timestamps = features.includes('timestamp-query');
    if (!timestamps) notes.push('the adapter has no timestamp-query: wall time only, no per-kernel GPU time');
    const steps = o.steps ?? (cpu ? 6 : 20); // 1000 + 2 warm-up + 20 fit in 1024 positions
    const timedSteps = o.timedSteps ?? (cpu ? 2 : 8);
    const [near, far] = o.positions ?? [10, 1000];
    const batches = o.batches ?? [1, 8, 32];
    const genTokens = o.generateTokens ?? (cpu ? 12 : 64);
    log(`adapter: ${info.vendor} / ${info.architecture} / ${info.description}; device features: ${features.join(', ') || 'none'}`);

    const tl = performance.now();
    const { weights } = randomF16Checkpoint(configJson);
    const model = await loadWithTuning((s, opts) => ImageGPT.fromPretrained(s, opts), { config: configJson, weights }, { device, dtype: 'f16', tuning: o.tuning });
    const loadMs = performance.now() - tl;
    log(`model: ${layers} layers, random f16 weights, made and loaded in ${(loadMs / 1000).toFixed(1)} s`);
    try {
      const prefillSession = model.createSession(1);
      let prefill: GpuBenchResult['prefill'];
      try {
        await prefillSession.runner.ready();
        const seq = Math.min(prefillSession.runner.chunkLength, model.config.n_positions);
        prefill = { tokensPerChunk: seq, counts: stepCounts(model, prefillSession, { batch: 1, seq, past: 0 }) };
      } finally {
        prefillSession.dispose();
      }

      // A throw-away run first: the first decode of a process (or page) pays one-time costs the rows should not.
      await profileDecode(model, batches[0], near, { steps: 2, timedSteps: 1, timestamps });
      const decode: DecodeRow[] = [];
      for (const batch of batches) {
        const rows: DecodeRow[] = [];
        for (const position of [near, far]) {
          const row: DecodeRow = await profileDecode(model, batch, position, { steps, timedSteps, timestamps });
          rows.push(row);
          log(`decode batch ${batch} at ${position}: ${row.stepMs.toFixed(2)} ms/step, ${row.dispatchesPerToken} dispatches`);
        }
        rows[1].farOverNear = rows[1].stepMs / rows[0].stepMs;
        decode.push(...rows);
      }

      const generate: GpuBenchResult['generate'] = [];
      for (const batch of genTokens > 0 ? batches : []) {
        await model.generate({ batchSize: batch, maxNewTokens: 2, seed: 1 }); // warm: pipelines, sampler
        const counts = zeroCounts();
        const restore = countDevice(device, counts);
        const tg = performance.now();
        try {
          await model.generate({ batchSize: batch, maxNewTokens: genTokens, seed: 1 });
        } finally {
          restore();
        }
        const sec = (performance.now() - tg) / 1000;
        generate.push({
          batch,
          tokens: genTokens,
          tokensPerSecond: (batch * genTokens) / sec,
          dispatchesPerStep: counts.dispatches / genTokens,
          passesPerStep: counts.passes / genTokens,
          submitsPerStep: counts.submits / genTokens,
        });
        log(`generate batch ${batch}: ${((batch * genTokens) / sec).toFixed(1)} tokens/s`);
      }
      const tuning = { ...(model.tuning as unknown as Record<string, unknown>) };
      const uses = model.deviceFeatures;
      return {
        date: new Date().toISOString(),
        adapter: { vendor: info.vendor, architecture: info.architecture, description: info.description, swiftshader },
        adapterFeatures,
        deviceFeatures: features,
        kernelFeatures: { 'shader-f16': uses.shaderF16, subgroups: uses.subgroups },
        model: { n_layer: layers, n_embd: 512, n_head: 8, n_positions: 1024, vocab_size: 513, dtype: 'f16', ...(note ? { note } : {}) },
        tuning,
        loadMs,
        prefill,
        decode,
        generate,
        timestamps,
        notes,
        totalSeconds: (performance.now() - t0) / 1000,
      };
    } finally {
      model.dispose();
    }
  } finally {
    await device.queue.onSubmittedWorkDone();
    device.destroy();
  }
}

const fixed = (x: number | null | undefined, d: number): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

/** Text columns, right-aligned, the first left-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** The compact report of a run: adapter, features, decode table (with per-kernel GPU µs), generation. */
export function formatGpuBench(r: GpuBenchResult): string {
  const out: string[] = [];
  out.push(`adapter: vendor ${r.adapter.vendor || '?'}, architecture ${r.adapter.architecture || '?'}, description ${r.adapter.description || '?'}${r.adapter.swiftshader ? ' (SwiftShader: a CPU)' : ''}`);
  const used = (f: string): string => {
    const k = r.kernelFeatures[f];
    return k === undefined ? '' : k ? ' (used by the kernels)' : ' (not used by the kernels)';
  };
  out.push(`features: ${WANTED_FEATURES.map((f) => `${f} ${r.deviceFeatures.includes(f) ? 'yes' : r.adapterFeatures.includes(f) ? 'offered, not requested' : 'no'}${used(f)}`).join(', ')}`);
  // Saved runs from before the split into three flags hold `fuse` instead.
  const { foldNorm, fusedKvAppend, decodeAttention, fuse } = r.tuning;
  if (typeof foldNorm === 'boolean') out.push(`kernels: foldNorm ${foldNorm}, fusedKvAppend ${fusedKvAppend}, decodeAttention '${decodeAttention}'`);
  else if (typeof fuse === 'boolean') out.push(`kernels: ${fuse ? 'fused' : 'unfused'} path (tuning.fuse ${fuse})`);
  out.push(`model: imagegpt-small shape, ${r.model.n_layer} layers, E ${r.model.n_embd}, ${r.model.n_head} heads, ${r.model.n_positions} positions, vocab ${r.model.vocab_size}, random f16 weights (loaded in ${(r.loadMs / 1000).toFixed(1)} s)`);
  const pc = r.prefill.counts;
  out.push(`prefill (${r.prefill.tokensPerChunk} tokens per chunk): ${pc.step.dispatches} dispatches, ${fixed(pc.dispatchesPerLayer, 2)} per layer + ${fixed(pc.dispatchesOutsideBlocks, 0)} outside, ${pc.passes} passes`);
  const kinds = [...new Set(r.decode.flatMap((d) => Object.keys(d.kernels?.perKindUs ?? {})))];
  const header = ['batch', 'pos', 'ms/step', 'tokens/s', 'far/near', 'disp/step', 'disp/layer', 'passes', ...(r.timestamps ? ['GPU Σ µs', ...kinds.map((k) => `${k} µs`)] : [])];
  const rows = r.decode.map((d) => [
    String(d.batch),
    String(d.position),
    fixed(d.stepMs, 3),
    fixed(d.tokensPerSecond, 1),
    fixed(d.farOverNear, 2),
    String(d.counts.step.dispatches),
    fixed(d.counts.dispatchesPerLayer, 2),
    String(d.counts.passes),
    ...(r.timestamps ? [fixed(d.kernels?.totalUs, 0), ...kinds.map((k) => fixed(d.kernels?.perKindUs[k], 0))] : []),
  ]);
  out.push('decode (one new token per sequence per step; far/near = step time at the far position over the near one, goal ≤ 1.6):');
  out.push(table(header, rows));
  if (r.generate.length) {
    out.push('generate() (sampling on the GPU; counted over the whole call):');
    out.push(
      table(
        ['batch', 'tokens', 'tokens/s', 'disp/step', 'passes/step', 'submits/step'],
        r.generate.map((g) => [String(g.batch), String(g.tokens), fixed(g.tokensPerSecond, 1), fixed(g.dispatchesPerStep, 1), fixed(g.passesPerStep, 2), fixed(g.submitsPerStep, 2)]),
      ),
    );
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  out.push(`total ${r.totalSeconds.toFixed(1)} s`);
  return out.join('\n');
}
