// `npm run bench -- --load`: seconds, MB/s and peak JS memory of ImageGPT.fromPretrained on a checkpoint of
// imagegpt-large's width (weights-tools/make_bench_checkpoint.py, made on first use), served by the local
// hub-shaped server (scripts/hub-server.mjs), for each layout × weight dtype × (HTTP Range honoured or not).
// Writes bench/load.json.
//   --layers N   layers of the large-width checkpoint (default 2)
//   --only S     only the cases whose label contains S (e.g. `bin-sharded`, ` f16 `); bench/load.json is then
//                left alone and the figures go to bench/load.tmp.json
//   --live       sample only just before each queue.writeBuffer, after a full GC: the bytes the loader holds
//                then, without garbage not yet collected (slower; for finding what holds memory)
//   --medium     imagegpt-medium's full shape instead (1024 wide, 36 layers, random weights, pytorch_model.bin,
//                1.9 GB, over Range): load + a 16-token forward and memory(), f32 and f16; into bench/load.json's
//                `medium` (the other figures are kept)
//
// Peak JS memory = max over the load of process.memoryUsage().heapUsed + .arrayBuffers, minus the same just
// before the load (after a full GC). Samples: a 1 ms timer (starved while the loader computes), every
// onProgress call, around every fetch and around every queue.writeBuffer. Each load runs in a fresh Node
// process: garbage and heap growth left by one load would otherwise count in the next one's figures.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageGPT, type LoadOptions } from '../src/model/imagegpt';
import type { LoadProgress } from '../src/loading/types';
import { createNodeDevice } from '../scripts/node-webgpu';
import { relError } from '../scripts/rel-error';
import { startHubServer, type HubRequest } from '../scripts/hub-server.mjs';

type Json = Record<string, unknown>;
type Layout = 'safetensors' | 'safetensors-sharded' | 'bin' | 'bin-sharded';
type DType = 'f16' | 'f32';

const LAYOUTS: readonly Layout[] = ['safetensors', 'safetensors-sharded', 'bin', 'bin-sharded'];
const HUB_ROOT = 'bench/.cache/hub';
const PEAK_GOAL = 0.25;
// A few tokens for the sanity forward: SOS then image tokens.
const SANITY_IDS = [512, 0, 511, 17, 300, 42, 256, 99];
const round = (x: number, d = 3): number => Number(x.toFixed(d));

/** What the parent tells a child process to load. */
interface RunSpec {
  label: string;
  repo: string;
  dtype: DType;
  range: boolean;
  host: string;
  /** Weight file bytes (the figure MB/s and peak ÷ size are taken against). */
  weightBytes: number;
  /** Force a GC at every progress sample (live bytes only). */
  live: boolean;
  forwardTokens: number;
  timeoutMs: number;
}

/** Where the peak was seen: the sampling point and the load's last progress event then. */
interface PeakContext {
  at: string;
  phase: string;
  file: string;
  loaded: number;
  /** Seconds into the load. */
  seconds: number;
}

/** What a child reports back. */
interface RunResult {
  seconds: number;
  peakBytes: number;
  peakHeapBytes: number;
  peakArrayBufferBytes: number;
  peakContext: PeakContext;
  retainedBytes: number;
  rssGrowthBytes: number;
  samples: number;
  progressCalls: number;
  phases: string[];
  forwardSeconds: number;
  lastLogits: number[];
  finite: boolean;
  memory: { weightBytes: number; sessionBytes: number; totalBytes: number };
}

// ───────────────────────────── child: one load ─────────────────────────────

function jsBytes(): { heap: number; ab: number; rss: number } {
  const m = process.memoryUsage();
  return { heap: m.heapUsed, ab: m.arrayBuffers, rss: m.rss };
}

async function runOne(spec: RunSpec): Promise<RunResult> {
  const { device } = await createNodeDevice();
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('bench/load.ts child: run with node --expose-gc (the parent does)');
  gc();
  gc();
  const base = jsBytes();
  const t0 = performance.now();
  let last = { phase: '', file: '', loaded: 0 };
  let peak = { bytes: 0, heap: 0, ab: 0, context: { at: 'start', ...last, seconds: 0 } as PeakContext };
  let peakRss = base.rss;
  let samples = 0;
  const sample = (at: string): void => {
    // --live: only just before each upload, after a full GC (what the loader holds then, no garbage).
    if (spec.live && at !== 'before writeBuffer') return;
    if (spec.live) gc();
    const m = jsBytes();
    samples++;
    const bytes = m.heap + m.ab - (base.heap + base.ab);
    if (bytes > peak.bytes) {
      peak = { bytes, heap: m.heap - base.heap, ab: m.ab - base.ab, context: { at, ...last, seconds: (performance.now() - t0) / 1000 } };
    }
    if (m.rss > peakRss) peakRss = m.rss;
  };
  // Where the loader hands bytes to Dawn: sample just before (bytes still held) and just after.
  const queue = device.queue;
  const writeBuffer = queue.writeBuffer.bind(queue);
  queue.writeBuffer = ((...args: Parameters<GPUQueue['writeBuffer']>) => {
    sample('before writeBuffer');
    writeBuffer(...args);
    sample('after writeBuffer');
  }) as GPUQueue['writeBuffer'];
  const fetchSampled: typeof fetch = async (input, init) => {
    sample('fetch');
    const res = await fetch(input, init);
    sample('response');
    return res;
  };
  let progressCalls = 0;
  const phases = new Set<string>();
  const options: LoadOptions = {
    device,
    dtype: spec.dtype,
    host: spec.host,
    cache: false,
    fetch: fetchSampled,
    onProgress: (p: LoadProgress) => {
      progressCalls++;
      phases.add(p.phase);
      last = { phase: p.phase, file: p.file, loaded: p.loaded };
      sample('onProgress');
    },
  };
  const timer = setInterval(() => sample('timer'), 1);
  let model: ImageGPT;
  try {
    model = await ImageGPT.fromPretrained(spec.repo, options);
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - t0) / 1000;
  sample('end');
  gc();
  gc();
  const after = jsBytes();

  const f0 = performance.now();
  const ids = Array.from({ length: spec.forwardTokens }, (_, i) => SANITY_IDS[i % SANITY_IDS.length]);
  const { logits } = await model.forward([ids]);
  const forwardSeconds = (performance.now() - f0) / 1000;
  const V = logits.length / ids.length;
  const memory = model.memory();
  model.dispose();
  await device.queue.onSubmittedWorkDone();
  device.destroy();
  return {
    seconds,
    peakBytes: peak.bytes,
    peakHeapBytes: peak.heap,
    peakArrayBufferBytes: peak.ab,
    peakContext: peak.context,
    retainedBytes: after.heap + after.ab - (base.heap + base.ab),
    rssGrowthBytes: peakRss - base.rss,
    samples,
    progressCalls,
    phases: [...phases],
    forwardSeconds,
    lastLogits: Array.from(logits.subarray(logits.length - V)),
    finite: logits.every(Number.isFinite),
    memory: { weightBytes: memory.weightBytes, sessionBytes: memory.sessionBytes, totalBytes: memory.totalBytes },
  };
}

// ───────────────────────────── parent ─────────────────────────────

/** The checkpoint's repo name prefix; made by make_bench_checkpoint.py when a layout is missing. */
function ensureCheckpoint(preset: 'large' | 'medium', layers: number, layouts: readonly Layout[]): string {
  const name = `${preset}-${layers}l-f32`;
  const missing = layouts.filter((l) => !existsSync(join(HUB_ROOT, 'bench', `${name}-${l}`, 'bench.json')));
  if (missing.length) {
    console.log(`making the ${name} checkpoint (${missing.join(', ')}) with weights-tools/make_bench_checkpoint.py…`);
    const python = process.env.PYTHON ?? '/usr/bin/python3';
    const r = spawnSync(
      python,
      ['weights-tools/make_bench_checkpoint.py', '--preset', preset, '--layers', String(layers), '--layouts', missing.join(','), '--out', HUB_ROOT],
      { stdio: 'inherit' },
    );
    if (r.status !== 0) throw new Error(`weights-tools/make_bench_checkpoint.py exited ${r.status ?? r.signal}; it needs ${python} with torch (set PYTHON to another)`);
  }
  return name;
}

function weightBytesOf(repo: string): number {
  const marker = JSON.parse(readFileSync(join(HUB_ROOT, repo, 'bench.json'), 'utf8')) as { bytes: number };
  return marker.bytes;
}

/** Runs one load in a fresh `node --expose-gc` process; its result is the stdout line starting with RESULT. */
function spawnRun(spec: RunSpec): Promise<RunResult> {
  return new Promise((ok, fail) => {
    // --live: GC on this thread, or freed ArrayBuffers still count until a background sweeper gets to them.
    const flags = spec.live ? ['--expose-gc', '--single-threaded-gc'] : ['--expose-gc'];
    const child = spawn(process.execPath, [...flags, 'scripts/run-ts.mjs', 'bench/load.ts', '--child', JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), spec.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) ok(JSON.parse(line.slice(7)) as RunResult);
      else fail(new Error(`${spec.label}: the child process ended with ${signal ?? `exit ${code}`}${signal === 'SIGKILL' ? ` (over the ${spec.timeoutMs / 1000} s cap)` : ''}\n${out.slice(-2000)}`));
    });
  });
}

/** Bytes the server sent more than once (the same file offsets in several responses). */
function resentBytes(log: readonly HubRequest[]): number {
  const byFile = new Map<string, [number, number][]>();
  for (const q of log) {
    const start = Number(/^bytes=(\d+)-/.exec(q.range ?? '')?.[1] ?? 0);
    const list = byFile.get(q.path.split('/').slice(0, 3).join('/')) ?? [];
    list.push([start, start + q.bytes]);
    byFile.set(q.path.split('/').slice(0, 3).join('/'), list);
  }
  let resent = 0;
  for (const spans of byFile.values()) {
    spans.sort((a, b) => a[0] - b[0]);
    let reach = 0;
    for (const [a, b] of spans) {
      resent += Math.max(0, Math.min(b, reach) - a);
      reach = Math.max(reach, b);
    }
  }
  return resent;
}

/** Loads `spec` in a child against a fresh hub server holding only its repo; the row of figures. */
async function measure(spec: RunSpec): Promise<{ row: Json; logits: number[] }> {
  // The server keeps the files it serves in memory (in this process, not the measured one).
  const hub = await startHubServer({ repos: { [spec.repo]: join(HUB_ROOT, spec.repo) }, range: spec.range });
  try {
    const r = await spawnRun({ ...spec, host: hub.url });
    const weights = hub.log.filter((q) => q.kind === 'cdn');
    const row: Json = {
      label: spec.label,
      dtype: spec.dtype,
      range: spec.range,
      weightBytes: spec.weightBytes,
      seconds: round(r.seconds, 2),
      mbPerSecond: round(spec.weightBytes / 1e6 / r.seconds, 1),
      peakMB: round(r.peakBytes / 1e6, 1),
      peakOverSize: round(r.peakBytes / spec.weightBytes),
      peakHeapMB: round(r.peakHeapBytes / 1e6, 1),
      peakArrayBuffersMB: round(r.peakArrayBufferBytes / 1e6, 1),
      peakContext: { ...r.peakContext, seconds: round(r.peakContext.seconds, 2) },
      retainedMB: round(r.retainedBytes / 1e6, 1),
      rssGrowthMB: round(r.rssGrowthBytes / 1e6, 1),
      weightRequests: weights.length,
      bytesServedOverSize: round(weights.reduce((n, q) => n + q.bytes, 0) / spec.weightBytes),
      resentMB: round(resentBytes(weights) / 1e6, 1),
      samples: r.samples,
      progressCalls: r.progressCalls,
      phases: r.phases,
      gpu: r.memory,
      forwardTokens: spec.forwardTokens,
      forwardSeconds: round(r.forwardSeconds, 2),
      finite: r.finite,
    };
    console.log(`${spec.label}: ${row.seconds} s, ${row.mbPerSecond} MB/s, peak ${row.peakMB} MB = ${row.peakOverSize} × file size`);
    return { row, logits: r.lastLogits };
  } finally {
    await hub.close();
  }
}

function printTable(rows: Json[]): void {
  const cols = ['label', 'seconds', 'mbPerSecond', 'peakMB', 'peakOverSize', 'peakHeapMB', 'peakArrayBuffersMB', 'retainedMB', 'rssGrowthMB', 'weightRequests', 'bytesServedOverSize', 'resentMB'];
  const cells = [cols, ...rows.map((r) => cols.map((c) => String(r[c])))];
  const widths = cols.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  for (const c of cells) console.log(c.map((v, i) => v.padEnd(widths[i])).join('  '));
}

const METHOD =
  'each load in a fresh node --expose-gc process; peak = max(heapUsed + arrayBuffers) during fromPretrained (hub id, host, cache: false) ' +
  'minus the value after a full GC just before it; sampled every 1 ms, in onProgress, around fetch and around queue.writeBuffer; ' +
  'MB/s = weight file bytes (10^6) / seconds; scripts/hub-server.mjs on 127.0.0.1 in the parent process, one per load';

function readResults(file: string): Json {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Json) : {};
}

export async function main(args: string[]): Promise<number> {
  const ci = args.indexOf('--child');
  if (ci >= 0) {
    const result = await runOne(JSON.parse(args[ci + 1]) as RunSpec);
    console.log(`RESULT ${JSON.stringify(result)}`);
    return 0;
  }
  const live = args.includes('--live');
  if (args.includes('--medium')) return medium(live);
  const li = args.indexOf('--layers');
  const layers = li >= 0 ? Number(args[li + 1]) : 2;
  if (!Number.isInteger(layers) || layers < 1) throw new Error(`--layers ${args[li + 1]}: expected a positive integer`);
  const oi = args.indexOf('--only');
  const only = oi >= 0 ? args[oi + 1] : '';
  const name = ensureCheckpoint('large', layers, LAYOUTS);

  const rows: Json[] = [];
  const logits = new Map<string, number[]>();
  const failures: string[] = [];
  for (const layout of LAYOUTS) {
    for (const dtype of ['f32', 'f16'] as const) {
      for (const range of [true, false]) {
        const repo = `bench/${name}-${layout}`;
        const label = `${layout} ${dtype} ${range ? 'range' : 'stream'}`;
        if (only && !label.includes(only)) continue;
        const spec: RunSpec = { label, repo, dtype, range, host: '', weightBytes: weightBytesOf(repo), live, forwardTokens: SANITY_IDS.length, timeoutMs: 600_000 };
        try {
          const r = await measure(spec);
          rows.push(r.row);
          logits.set(label, r.logits);
        } catch (e) {
          failures.push(e instanceof Error ? e.message : String(e));
          console.error(failures[failures.length - 1]);
        }
      }
    }
  }

  // Sanity: every load of the same weights gives the same logits (f32 within 1e-4 of their scale, f16 2e-2),
  // so a broken load cannot pass for a fast one.
  const reference = [...logits.entries()].find(([label]) => label.includes(' f32 '));
  const sanity: Json[] = [];
  for (const r of rows) {
    const label = r.label as string;
    const tol = r.dtype === 'f32' ? 1e-4 : 2e-2;
    const err = reference ? relError(logits.get(label)!, reference[1]) : NaN;
    const ok = r.finite === true && (!reference || err <= tol);
    sanity.push({ label, against: reference?.[0] ?? null, relError: Number(err.toExponential(2)), tolerance: tol, ok });
    if (!ok) failures.push(`${label}: logits ${r.finite ? `off by ${err} of their scale (tolerance ${tol})` : 'not finite'}`);
  }
  console.log('');
  printTable(rows);
  const worst = Math.max(...rows.map((r) => r.peakOverSize as number));
  console.log(`\nworst peak JS memory ÷ weight bytes: ${worst} (goal ≤ ${PEAK_GOAL})`);
  const file = only || live || layers !== 2 ? 'bench/load.tmp.json' : 'bench/load.json';
  const previous = readResults('bench/load.json');
  const results: Json = {
    date: new Date().toISOString(),
    checkpoint: {
      repos: `bench/${name}-{${LAYOUTS.join(',')}}`,
      n_embd: 1536,
      n_head: 16,
      n_positions: 1024,
      n_layer: layers,
      dtype: 'f32',
      buffers: 'per layer attn.bias (uint8 1x1x1024x1024) and attn.masked_bias',
      shards: 'about 100 MB each',
    },
    runtime: `Node ${process.version}, Dawn (npm webgpu)`,
    method: METHOD + (live ? '; --live: sampled only before queue.writeBuffer, each time after a full GC (node --single-threaded-gc)' : ''),
    goal: { peakOverSize: PEAK_GOAL },
    rows,
    sanity,
    failures,
    // Kept from earlier runs: the pre-streaming figures and the medium run (bench -- --load --medium).
    beforeStreaming: previous.beforeStreaming,
    medium: previous.medium,
  };
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote ${file}`);
  return failures.length ? 1 : 0;
}

/**
 * imagegpt-medium's full shape: pytorch_model.bin over Range, f16 and f32, each + a 16-token forward;
 * into bench/load.json's `medium` (f16 and f32 logits must agree, as for the large-width runs).
 */
async function medium(live: boolean): Promise<number> {
  const name = ensureCheckpoint('medium', 36, ['bin']);
  const repo = `bench/${name}-bin`;
  const rows: Json[] = [];
  const logits: number[][] = [];
  for (const dtype of ['f32', 'f16'] as const) {
    const label = `medium bin ${dtype} range`;
    const spec: RunSpec = { label, repo, dtype, range: true, host: '', weightBytes: weightBytesOf(repo), live, forwardTokens: 16, timeoutMs: 1_200_000 };
    const r = await measure(spec);
    rows.push(r.row);
    logits.push(r.logits);
  }
  const err = relError(logits[1], logits[0]);
  const ok = rows.every((r) => r.finite === true) && err <= 2e-2;
  printTable(rows);
  console.log(`f16 logits vs f32: ${err.toExponential(2)} of their scale (tolerance 2e-2)`);
  const results = readResults('bench/load.json');
  results.medium = {
    date: new Date().toISOString(),
    checkpoint: { repo, n_embd: 1024, n_head: 8, n_positions: 1024, n_layer: 36, dtype: 'f32', layout: 'pytorch_model.bin with the mask buffers' },
    rows,
    sanity: { f16VsF32RelError: Number(err.toExponential(2)), tolerance: 2e-2, ok },
  };
  writeFileSync('bench/load.json', JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote bench/load.json (medium)${ok ? '' : ': logits NOT finite or f16/f32 disagree'}`);
  return ok ? 0 : 1;
}
