// The sampling kernel on SwiftShader against plain math: greedy, the top-k / top-p truncated
// softmax by chi-square, temperature, seeded determinism, the CPU mirror, and where tokens land.
import { describe, it, expect, beforeAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { Sampler } from '../../src/gpu/sampler';
import { readBuffer } from '../../src/gpu/readback';
import { PipelineCache } from '../../src/gpu/pipelines';
import sampleWgsl from '../../shaders/sample.wgsl?raw';
import { random, randomArray, storageBuffer } from './harness';
import {
  counterUniform,
  resolveSampling,
  sampleOnCpu,
  samplingDistribution,
  type SamplingOptions,
} from '../../src/model/sampling';

let device: GPUDevice;
let sampler: Sampler;

beforeAll(async () => {
  device = await getTestDevice();
  sampler = new Sampler(device, { workgroupSize: 16 }); // SwiftShader's fastest; 64 is checked below
  const storage = (size: number) => device.createBuffer({ size, usage: GPUBufferUsage.STORAGE });
  const step = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM });
  const params = sampler.createParamsBuffer();
  sampler.sample({ step, params, logits: storage(4), vocab: 1, nextIds: storage(4), history: storage(4), historyLength: 1 }).destroy();
  await sampler.ready(); // the kernel compiles and its pipeline is valid
});

// ---- small helpers ---------------------------------------------------------------------------

function randomLogits(n: number, seed: number, scale = 2): Float32Array {
  return randomArray(random(seed), n, scale);
}

async function readI32(buffer: GPUBuffer): Promise<Int32Array> {
  return new Int32Array(await readBuffer(device, buffer, 0, buffer.size));
}

interface Run {
  logits: Float32Array; // [batch * seq, vocab]
  vocab: number;
  batch: number;
  seq: number;
  /** One step per entry: the `past` of that step (each writes history at past + seq). */
  pasts: number[];
  historyLength: number;
  options: SamplingOptions;
  /** Per sequence: history indices below it hold given tokens (the prompt); absent: nothing given. */
  promptEnds?: number[];
  /** The history's contents before the run (default -7 everywhere). */
  history?: Int32Array;
}

/** Runs the real kernel for each step; returns nextIds after the last step and the whole history. */
async function runSampler(r: Run, by = sampler): Promise<{ next: Int32Array; history: Int32Array }> {
  await device.queue.onSubmittedWorkDone();
  device.pushErrorScope('validation');
  const step = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const params = by.createParamsBuffer();
  by.writeParams(params, resolveSampling(r.options));
  const logits = storageBuffer(device, r.logits);
  const nextIds = storageBuffer(device, new Int32Array(r.batch).fill(-1));
  const history = storageBuffer(device, r.history ?? new Int32Array(r.batch * r.historyLength).fill(-7));
  const promptEnds = r.promptEnds ? storageBuffer(device, Int32Array.from(r.promptEnds)) : undefined; // u32 in the kernel: the same bits
  const op = by.sample({ step, params, logits, vocab: r.vocab, nextIds, history, historyLength: r.historyLength, promptEnds });
  for (const past of r.pasts) {
    device.queue.writeBuffer(step, 0, Uint32Array.of(r.batch, r.seq, past, r.batch * r.seq));
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    op.encode(pass, { batch: r.batch, seq: r.seq, past });
    pass.end();
    device.queue.submit([enc.finish()]);
  }
  const out = { next: await readI32(nextIds), history: await readI32(history) };
  const error = await device.popErrorScope();
  expect(error?.message ?? null).toBeNull();
  for (const b of [step, params, logits, nextIds, history]) b.destroy();
  promptEnds?.destroy();
  op.destroy();
  return out;
}

/** Every draw of a run: history[b, past + seq] for each sequence b and step. */
function draws(r: Run, history: Int32Array): number[] {
  const out: number[] = [];
  for (let b = 0; b < r.batch; b++) for (const past of r.pasts) out.push(history[b * r.historyLength + past + r.seq]);
  return out;
}

function repeatRow(row: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(rows * row.length);
  for (let i = 0; i < rows; i++) out.set(row, i * row.length);
  return out;
}

/** Plain HF-style expected distribution, written independently of src/: token -> probability. */
function expectedDistribution(row: Float32Array, temperature: number, topK: number, topP: number): Map<number, number> {
  const scaled = Array.from(row, (x) => x / temperature);
  const order = scaled.map((_, i) => i).sort((a, b) => scaled[b] - scaled[a] || a - b);
  let kept = order;
  if (topK > 0 && topK < row.length) {
    const kth = scaled[order[topK - 1]];
    kept = order.filter((i) => scaled[i] >= kth);
  }
  const max = scaled[kept[0]];
  let z = 0;
  for (const i of kept) z += Math.exp(scaled[i] - max);
  let p = kept.map((i) => Math.exp(scaled[i] - max) / z);
  if (topP < 1) {
    // HF's TopPLogitsWarper: a token stays while the mass before it (decreasing order, lower id
    // first among equal logits) is < topP; at least one stays.
    let before = 0;
    let n = 0;
    while (n < kept.length && (n === 0 || before < topP)) before += p[n++];
    kept = kept.slice(0, n);
    const z2 = p.slice(0, n).reduce((a, x) => a + x, 0);
    p = p.slice(0, n).map((x) => x / z2);
  }
  return new Map(kept.map((t, i) => [t, p[i]]));
}

// ln Γ(x) by Lanczos (g = 7, n = 9), x > 0.
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularized upper incomplete gamma Q(s, x): series below s + 1, continued fraction above. */
function gammaQ(s: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + s * Math.log(x) - lnGamma(s));
  if (x < s + 1) {
    let term = 1 / s;
    let sum = term;
    for (let n = 1; n < 1000 && Math.abs(term) > Math.abs(sum) * 1e-15; n++) {
      term *= x / (s + n);
      sum += term;
    }
    return 1 - front * sum;
  }
  // Lentz's method on Q's continued fraction.
  const tiny = 1e-300;
  let b = x + 1 - s;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - s);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return front * h;
}

/** Pearson's chi-square p-value of observed draws against a distribution; bins under 5 expected are pooled. */
function chiSquareP(observed: number[], expected: Map<number, number>): { p: number; df: number; stat: number } {
  const n = observed.length;
  const counts = new Map<number, number>();
  for (const t of observed) counts.set(t, (counts.get(t) ?? 0) + 1);
  let stat = 0;
  let bins = 0;
  let pooledE = 0;
  let pooledO = 0;
  for (const [t, p] of expected) {
    const e = p * n;
    const o = counts.get(t) ?? 0;
    if (e < 5) {
      pooledE += e;
      pooledO += o;
    } else {
      stat += (o - e) ** 2 / e;
      bins++;
    }
  }
  if (pooledE > 0) {
    stat += (pooledO - pooledE) ** 2 / Math.max(pooledE, 1e-12);
    bins++;
  }
  const df = bins - 1;
  return { p: gammaQ(df / 2, stat / 2), df, stat };
}

function entropy(samples: number[]): number {
  const counts = new Map<number, number>();
  for (const t of samples) counts.set(t, (counts.get(t) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) h -= (c / samples.length) * Math.log(c / samples.length);
  return h;
}

// ---- tests -----------------------------------------------------------------------------------

describe('resolveSampling', () => {
  it('fills HF-like defaults and a random u32 seed', () => {
    const r = resolveSampling({});
    expect(r.temperature).toBe(1);
    expect(r.topK).toBe(40);
    expect(r.topP).toBe(1);
    expect(Number.isInteger(r.seed) && r.seed >= 0 && r.seed <= 0xffffffff).toBe(true);
    expect(resolveSampling({ temperature: 0, topK: 0, topP: 0.5, seed: 0xffffffff })).toEqual({
      temperature: 0,
      topK: 0,
      topP: 0.5,
      seed: 0xffffffff,
    });
  });

  it('rejects bad values with an Error naming the option', () => {
    expect(() => resolveSampling({ temperature: -0.1 })).toThrow(/temperature/);
    expect(() => resolveSampling({ temperature: NaN })).toThrow(/temperature/);
    expect(() => resolveSampling({ temperature: Infinity })).toThrow(/temperature/);
    expect(() => resolveSampling({ topK: -1 })).toThrow(/topK/);
    expect(() => resolveSampling({ topK: 2.5 })).toThrow(/topK/);
    expect(() => resolveSampling({ topP: -0.1 })).toThrow(/topP/); // 0 is allowed: HF keeps the most likely token
    expect(() => resolveSampling({ topP: 1.01 })).toThrow(/topP/);
    expect(() => resolveSampling({ topP: NaN })).toThrow(/topP/);
    expect(() => resolveSampling({ seed: -1 })).toThrow(/seed/);
    expect(() => resolveSampling({ seed: 2 ** 32 })).toThrow(/seed/);
    expect(() => resolveSampling({ seed: 1.5 })).toThrow(/seed/);
  });
});

describe('counterUniform', () => {
  it('is in [0, 1), depends on every key, and looks uniform', () => {
    const n = 20000;
    let sum = 0;
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < n; i++) {
      const u = counterUniform(1234, i >> 4, i & 15);
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      buckets[Math.floor(u * 10)]++;
    }
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
    const { p } = chiSquareP(
      buckets.flatMap((c, i) => new Array<number>(c).fill(i)),
      new Map(buckets.map((_, i) => [i, 0.1])),
    );
    expect(p).toBeGreaterThan(0.001);
    const u = counterUniform(7, 100, 3);
    expect(counterUniform(8, 100, 3)).not.toBe(u);
    expect(counterUniform(7, 101, 3)).not.toBe(u);
    expect(counterUniform(7, 100, 4)).not.toBe(u);
    expect(counterUniform(7, 100, 3)).toBe(u);
  });
});

describe('sampleOnCpu', () => {
  it('draws from the filtered distribution by inverse CDF and checks its inputs', () => {
    const row = Float32Array.of(0, 3, 1, 3, -2);
    const o = resolveSampling({ topK: 2, seed: 1 });
    expect(sampleOnCpu(row, 5, o, 0)).toBe(1);
    expect(sampleOnCpu(row, 5, o, 0.4999)).toBe(1);
    expect(sampleOnCpu(row, 5, o, 0.5001)).toBe(3);
    expect(sampleOnCpu(row, 5, { ...o, temperature: 0 }, 0.99)).toBe(1);
    expect(() => sampleOnCpu(row, 6, o, 0.5)).toThrow(/6 logits/);
    expect(() => sampleOnCpu(row, 5, o, 1)).toThrow(/uniform/);
  });
});

describe('sample kernel', () => {
  it('greedy is the argmax of the last new row of each sequence, lowest index on ties', async () => {
    const vocab = 37;
    const batch = 3;
    const seq = 2;
    const logits = randomLogits(batch * seq * vocab, 11);
    for (let b = 0; b < batch; b++) {
      logits[(b * seq + 0) * vocab + 30] = 100; // earlier rows must be ignored
      const last = (b * seq + 1) * vocab;
      logits[last + 5 + b] = 9;
      logits[last + 20 - b] = 9; // a tie: the lower index wins
    }
    const r: Run = { logits, vocab, batch, seq, pasts: [0], historyLength: 4, options: { temperature: 0 } };
    const { next } = await runSampler(r);
    expect(Array.from(next)).toEqual([5, 6, 7]);

    // Large vocab, all-equal rows, a row of -inf but one: still exact argmax.
    const big = 1000;
    const rows = new Float32Array(3 * big);
    rows.set(randomLogits(big, 5), 0);
    rows.fill(-Infinity, 2 * big);
    rows[2 * big + 777] = -1;
    const argmax = (x: Float32Array) => x.indexOf(Math.max(...x));
    const out = await runSampler({ logits: rows, vocab: big, batch: 3, seq: 1, pasts: [0], historyLength: 2, options: { temperature: 0 } });
    expect(Array.from(out.next)).toEqual([argmax(rows.subarray(0, big)), 0, 777]);
  });

  it('writes nextIds[b] and history[b, past + seq] and nothing else', async () => {
    const vocab = 16;
    const batch = 3;
    const seq = 3;
    const historyLength = 12;
    const logits = new Float32Array(batch * seq * vocab);
    for (let b = 0; b < batch; b++) logits[(b * seq + seq - 1) * vocab + 10 + b] = 5;
    const r: Run = { logits, vocab, batch, seq, pasts: [5], historyLength, options: { temperature: 0 } };
    const { next, history } = await runSampler(r);
    expect(Array.from(next)).toEqual([10, 11, 12]);
    const want = new Int32Array(batch * historyLength).fill(-7);
    for (let b = 0; b < batch; b++) want[b * historyLength + 5 + seq] = 10 + b;
    expect(Array.from(history)).toEqual(Array.from(want));
  });

  it('keeps a given token (history index below promptEnds[b]) instead of sampling, and samples past it', async () => {
    const vocab = 16;
    const batch = 3;
    const historyLength = 6;
    const logits = new Float32Array(batch * vocab);
    for (let b = 0; b < batch; b++) logits[b * vocab + 9] = 5; // greedy would pick 9 everywhere
    const given = new Int32Array(batch * historyLength).fill(-7);
    for (let b = 0; b < batch; b++) for (let j = 0; j < historyLength; j++) given[b * historyLength + j] = 100 + 10 * b + j;
    // Sequence 0 has no prompt left at index 3, sequence 1 is inside its prompt (ends at 4), sequence 2 ends at 6.
    const r: Run = { logits, vocab, batch, seq: 1, pasts: [2], historyLength, options: { temperature: 0 }, promptEnds: [3, 4, 6], history: given };
    const { next, history } = await runSampler(r);
    expect(Array.from(next)).toEqual([9, 113, 123]);
    const want = given.slice();
    want[3] = 9; // sampled; the given tokens of 1 and 2 stay where they were
    expect(Array.from(history)).toEqual(Array.from(want));
    // Sampling with a seed, the same: a given token is fed whatever the draw.
    const seeded = await runSampler({ ...r, options: { temperature: 1, seed: 3 } });
    expect(Array.from(seeded.next.subarray(1))).toEqual([113, 123]);
  });

  it('top-k draws match the truncated softmax (chi-square) and never leave the top k', async () => {
    const vocab = 512;
    const row = randomLogits(vocab, 3, 1.5);
    const batch = 2048;
    const r: Run = {
      logits: repeatRow(row, batch),
      vocab,
      batch,
      seq: 1,
      pasts: [0, 1],
      historyLength: 3,
      options: { topK: 12, seed: 42 },
    };
    const { history } = await runSampler(r);
    const samples = draws(r, history);
    const expected = expectedDistribution(row, 1, 12, 1);
    expect(expected.size).toBe(12);
    for (const t of samples) expect(expected.has(t)).toBe(true);
    const { p } = chiSquareP(samples, expected);
    expect(p).toBeGreaterThan(0.001);
  });

  it('keeps ties at the top-k boundary', async () => {
    const vocab = 300;
    const row = randomLogits(vocab, 9, 1).map((x) => x - 5);
    for (const [i, v] of [[250, 4], [3, 2], [120, 1], [40, 1], [299, 1]] as const) row[i] = v;
    const batch = 1024;
    const r: Run = { logits: repeatRow(row, batch), vocab, batch, seq: 1, pasts: [4], historyLength: 6, options: { topK: 3, seed: 5 } };
    const { history } = await runSampler(r);
    const samples = draws(r, history);
    expect(new Set(samples)).toEqual(new Set([250, 3, 120, 40, 299]));
    const { p } = chiSquareP(samples, expectedDistribution(row, 1, 3, 1));
    expect(p).toBeGreaterThan(0.001);
  });

  it('top-p never draws outside the nucleus, and matches it (chi-square)', async () => {
    const vocab = 512;
    const row = randomLogits(vocab, 21, 3);
    const batch = 2048;
    const options = { topK: 0, topP: 0.6, seed: 77 };
    const r: Run = { logits: repeatRow(row, batch), vocab, batch, seq: 1, pasts: [9, 10], historyLength: 12, options };
    const { history } = await runSampler(r);
    const samples = draws(r, history);
    const nucleus = expectedDistribution(row, 1, 0, 0.6);
    expect(nucleus.size).toBeGreaterThan(5);
    expect(nucleus.size).toBeLessThan(vocab / 4);
    for (const t of samples) expect(nucleus.has(t)).toBe(true);
    expect(chiSquareP(samples, nucleus).p).toBeGreaterThan(0.001);
  });

  it('cuts a tie at the top-p boundary by token id (HF), after top-k kept its boundary tie', async () => {
    // Probabilities 0.434, then 0.160 three times, then 0.022 four times. top-k 6 cuts inside the
    // tie of zeros, so all of them stay; top-p 0.6 cuts inside the tie of twos: the mass before
    // ids 3, 2, 5 is 0, 0.434, 0.594 (< 0.6), before 7 it is 0.754: 7 goes. top-p 0.95 needs some
    // zeros, counted in the mass because top-k kept them: before ids 0, 1, 4 it is 0.914, 0.936, 0.957.
    const row = Float32Array.of(0, 0, 2, 3, 0, 2, 0, 2);
    for (const [topP, kept] of [[0.6, [2, 3, 5]], [0.95, [0, 1, 2, 3, 5, 7]]] as const) {
      const batch = 512;
      const options = { topK: 6, topP, seed: 8 };
      const r: Run = { logits: repeatRow(row, batch), vocab: 8, batch, seq: 1, pasts: [1, 2], historyLength: 4, options };
      const samples = draws(r, (await runSampler(r)).history);
      expect(new Set(samples)).toEqual(new Set(kept));
      expect(chiSquareP(samples, expectedDistribution(row, 1, 6, topP)).p).toBeGreaterThan(0.001);
    }
  });

  it('top-p with exact ties (0.4 / 0.3 / 0.3, topP 0.5) keeps two tokens, the lower id of the tie (issue 12)', async () => {
    // HF keeps the smallest set reaching 0.5 in its sorted order: 0.4, then one 0.3 (mass 0.7).
    const tie = Math.fround(Math.log(0.3));
    for (const [row, kept] of [
      [Float32Array.of(Math.log(0.4), tie, tie), [0, 1]],
      [Float32Array.of(tie, tie, Math.log(0.4)), [0, 2]],
      [Float32Array.of(tie, -50, Math.log(0.4), tie), [0, 2]],
    ] as const) {
      const vocab = row.length;
      const options = { topK: 0, topP: 0.5, seed: 3 };
      const cpu = samplingDistribution(row, vocab, resolveSampling(options));
      expect(Array.from(cpu.tokens)).toEqual(kept);
      expect(cpu.probs[0] + cpu.probs[1]).toBeCloseTo(1, 12);
      const batch = 512;
      const r: Run = { logits: repeatRow(row, batch), vocab, batch, seq: 1, pasts: [0, 1], historyLength: 3, options };
      const samples = draws(r, (await runSampler(r)).history);
      expect(new Set(samples)).toEqual(new Set(kept));
      expect(chiSquareP(samples, expectedDistribution(row, 1, 0, 0.5)).p).toBeGreaterThan(0.001);
    }
    // 64 threads per sequence: the tie spans several threads' chunks.
    const wide = new Float32Array(300).fill(-30);
    for (const i of [7, 90, 150, 151, 299]) wide[i] = 1; // five tied tokens of 0.2 each: topP 0.5 keeps three
    const options = { topK: 0, topP: 0.5, seed: 4 };
    expect(Array.from(samplingDistribution(wide, 300, resolveSampling(options)).tokens)).toEqual([7, 90, 150]);
    const r: Run = { logits: repeatRow(wide, 256), vocab: 300, batch: 256, seq: 1, pasts: [0], historyLength: 2, options };
    for (const by of [sampler, new Sampler(device)]) {
      expect(new Set(draws(r, (await runSampler(r, by)).history))).toEqual(new Set([7, 90, 150]));
    }
  });

  it('temperature 0.5 sharpens and 2 flattens, each matching the tempered softmax', async () => {
    const vocab = 64;
    const row = randomLogits(vocab, 8, 2);
    const batch = 2048;
    const entropies: number[] = [];
    for (const temperature of [0.5, 1, 2]) {
      const r: Run = {
        logits: repeatRow(row, batch),
        vocab,
        batch,
        seq: 1,
        pasts: [0],
        historyLength: 2,
        options: { temperature, topK: 0, seed: 3 },
      };
      const samples = draws(r, (await runSampler(r)).history);
      expect(chiSquareP(samples, expectedDistribution(row, temperature, 0, 1)).p).toBeGreaterThan(0.001);
      entropies.push(entropy(samples));
    }
    expect(entropies[0]).toBeLessThan(entropies[1]);
    expect(entropies[1]).toBeLessThan(entropies[2]);
  });

  it('is seeded: same seed same tokens, another seed other tokens', async () => {
    const vocab = 512;
    const batch = 256;
    const logits = randomLogits(batch * vocab, 99, 3);
    const base: Run = { logits, vocab, batch, seq: 1, pasts: [7], historyLength: 9, options: {} };
    const options = { temperature: 0.8, topK: 40, topP: 0.9, seed: 2024 };
    const a = (await runSampler({ ...base, options })).next;
    const b = (await runSampler({ ...base, options })).next;
    const c = (await runSampler({ ...base, options: { ...options, seed: 2025 } })).next;
    expect(Array.from(b)).toEqual(Array.from(a));
    let differ = 0;
    for (let i = 0; i < batch; i++) if (a[i] !== c[i]) differ++;
    expect(differ).toBeGreaterThan(batch / 4);
  });

  /** GPU draws vs sampleOnCpu with the same uniforms: only float rounding at a cut may split them. */
  async function expectCpuAgreement(options: Required<SamplingOptions>, by: Sampler): Promise<void> {
    const vocab = 512;
    const batch = 192;
    const logits = randomLogits(batch * vocab, options.seed, 3);
    const past = 5;
    const seq = 1;
    const { next } = await runSampler({ logits, vocab, batch, seq, pasts: [past], historyLength: 8, options }, by);
    let disagree = 0;
    for (let i = 0; i < batch; i++) {
      const row = logits.subarray(i * vocab, (i + 1) * vocab);
      const u = counterUniform(options.seed, past + seq, i);
      const cpu = sampleOnCpu(row, vocab, options, u);
      if (cpu === next[i]) continue;
      let nearCut = false;
      let cdf = 0;
      for (const p of samplingDistribution(row, vocab, options).probs) {
        cdf += p;
        if (Math.abs(cdf - u) < 1e-6) nearCut = true;
      }
      const topK = samplingDistribution(row, vocab, { ...options, topP: 1 });
      let mass = 0;
      for (const p of Array.from(topK.probs).sort((x, y) => y - x)) {
        mass += p;
        if (Math.abs(mass - options.topP) < 1e-6) nearCut = true;
      }
      expect(nearCut, `sequence ${i}: GPU ${next[i]}, CPU ${cpu}, u ${u}`).toBe(true);
      disagree++;
    }
    expect(disagree).toBeLessThan(3);
  }

  it('draws what sampleOnCpu draws with counterUniform (top-k, top-p, temperature)', async () => {
    await expectCpuAgreement(resolveSampling({ temperature: 0.8, topK: 40, topP: 0.9, seed: 11 }), sampler);
    await expectCpuAgreement(resolveSampling({ temperature: 1, topK: 0, topP: 1, seed: 12 }), sampler);
  });

  it('draws the same with 64 threads per sequence (the real-GPU default)', async () => {
    await expectCpuAgreement(resolveSampling({ temperature: 1.3, topK: 100, topP: 0.8, seed: 13 }), new Sampler(device));
  });

  it("uses the device's one pipeline cache: another Sampler (or Op) of the same size compiles nothing", () => {
    const calls = { modules: 0, pipelines: 0 };
    const [createModule, createPipeline] = [device.createShaderModule, device.createComputePipeline];
    device.createShaderModule = (d) => (calls.modules++, createModule.call(device, d));
    device.createComputePipeline = (d) => (calls.pipelines++, createPipeline.call(device, d));
    const s = GPUBufferUsage.STORAGE;
    const made: GPUBuffer[] = [];
    const buf = (size: number, usage = s) => (made.push(device.createBuffer({ size, usage })), made[made.length - 1]);
    try {
      const other = new Sampler(device, { workgroupSize: 16 });
      const args = { step: buf(16, GPUBufferUsage.UNIFORM), params: other.createParamsBuffer(), logits: buf(4 * 8), vocab: 8, nextIds: buf(4), history: buf(8), historyLength: 2 };
      made.push(args.params);
      other.sample(args).destroy();
      sampler.sample(args).destroy();
      expect(calls).toEqual({ modules: 0, pipelines: 0 });
      // The pipeline is the device's cache entry (where the kernels' pipelines are): no second cache.
      PipelineCache.forDevice(device).get('sample.wgsl', sampleWgsl, 'main', { WG: 16 });
      expect(calls).toEqual({ modules: 0, pipelines: 0 });
      // A new size is a new pipeline of the same module, in the same cache.
      new Sampler(device, { workgroupSize: 8 }).sample(args).destroy();
      expect(calls).toEqual({ modules: 0, pipelines: 1 });
    } finally {
      device.createShaderModule = createModule;
      device.createComputePipeline = createPipeline;
      for (const b of made) b.destroy();
    }
  });

  it('rejects what it cannot sample, with clear errors', () => {
    const buf = (size: number, usage: number) => device.createBuffer({ size, usage });
    const s = GPUBufferUsage.STORAGE;
    const step = buf(16, GPUBufferUsage.UNIFORM);
    const params = sampler.createParamsBuffer();
    const args = { step, params, logits: buf(4 * 2 * 100, s), vocab: 100, nextIds: buf(8, s), history: buf(8 * 4, s), historyLength: 4 };
    expect(() => new Sampler(device, { workgroupSize: 256 })).toThrow(/workgroupSize/);
    expect(() => new Sampler(device, { workgroupSize: 24 })).toThrow(/workgroupSize/);
    expect(() => sampler.sample({ ...args, vocab: 1025 })).toThrow(/vocab/);
    expect(() => sampler.sample({ ...args, vocab: 0 })).toThrow(/vocab/);
    expect(() => sampler.sample({ ...args, historyLength: 0 })).toThrow(/historyLength/);
    const op = sampler.sample(args);
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    expect(() => op.encode(pass, { batch: 2, seq: 1, past: 3 })).toThrow(/past \+ seq = 4.*length 4/);
    expect(() => op.encode(pass, { batch: 2, seq: 2, past: 0 })).toThrow(/logits/);
    expect(() => op.encode(pass, { batch: 3, seq: 1, past: 0 })).toThrow(/logits/);
    expect(() => op.encode(pass, { batch: 0, seq: 1, past: 0 })).toThrow(/batch/);
    // The sampler takes resolved values (the model resolves the user's options): what the kernel cannot hold is refused.
    expect(() => sampler.writeParams(params, { temperature: -1, topK: 1, topP: 1, seed: 0 })).toThrow('sampler: temperature -1 is not a resolved value');
    expect(() => sampler.writeParams(params, { temperature: 1, topK: 2.5, topP: 1, seed: 0 })).toThrow('sampler: topK 2.5 is not a resolved value');
    expect(() => sampler.writeParams(params, { temperature: 1, topK: 1, topP: NaN, seed: 0 })).toThrow('sampler: topP NaN is not a resolved value');
    expect(() => sampler.writeParams(params, { temperature: 1, topK: 1, topP: 1, seed: 2 ** 32 })).toThrow('sampler: seed 4294967296 is not a resolved value');
    pass.end();
    enc.finish();
    for (const b of [step, params, args.logits, args.nextIds, args.history]) b.destroy();
  });
});
