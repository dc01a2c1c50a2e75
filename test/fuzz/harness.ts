// The fuzz harness: seeded inputs per target, each run with the rules of issue 12. Every exception must be an
// Error whose message names the problem (no engine messages leaking through) and carries the library's error
// code, no input may take over its time limit, and a target may add its own checks (an oracle on what was
// accepted, GPU buffers not growing).
// Input i of a run is drawn from its own generator seeded with (seed, target, i), so `--seed S --index I`
// reproduces one failing input alone.
import { seededRandom } from '../helpers/random';
import { errorCode } from '../../src/errors';

/** A seeded source of choices for one input. */
export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = seededRandom(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** One fuzz target: makes input `index` from its generator, and runs it. */
export interface FuzzTarget<I> {
  name: string;
  /** Wall-clock limit per input (ms). */
  limitMs: number;
  /** A looser limit for inputs that were accepted and did real work (a valid generate on the GPU); default limitMs. */
  acceptedLimitMs?: number;
  /** Set up once per run (load fixtures, make a device); returns the per-input functions. */
  setup(): Promise<FuzzRunner<I>>;
}

export interface FuzzRunner<I> {
  generate(rng: Rng, index: number): I;
  /** Runs one input. A thrown Error is the parser refusing the input (checked by the harness); a returned
   * string is a failure found by the target's own oracle. */
  run(input: I): Promise<string | void> | string | void;
  /** A short hex / JSON excerpt of the input for the failure report. */
  describe(input: I): string;
  /** Checked after every input (e.g. live GPU buffers); a string is a failure. */
  after?(): Promise<string | void> | string | void;
  teardown?(): Promise<void>;
}

export interface FuzzFailure {
  target: string;
  seed: number;
  index: number;
  problem: string;
  input: string;
}

export interface FuzzReport {
  target: string;
  inputs: number;
  refused: number;
  accepted: number;
  failures: FuzzFailure[];
  ms: number;
  slowestMs: number;
  /** The longest message of an Error an input was refused with (to see how close the bound is). */
  longestMessage: number;
}

/** Messages of errors that escaped from the engine rather than being raised on purpose by a parser. */
const ENGINE_MESSAGES = [
  /Cannot read propert/i,
  /Cannot set propert/i,
  /Maximum call stack/i,
  /outside the bounds of the DataView/i,
  /Offset is outside the bounds/i,
  /Invalid typed array length/i,
  /Invalid array length/i,
  /Invalid string length/i,
  /Array buffer allocation failed/i,
  /Start offset .* is outside/i,
  /is not a function/i,
  /is not iterable/i,
  /is not a constructor/i,
  /Cannot convert .* to/i,
  /Cannot destructure/i,
  /out of memory/i,
  /^undefined$/,
  /^null$/,
  /\[object Object\]/,
];

/**
 * The longest message an Error may have. Untrusted names and values are quoted as excerpts of ~120 characters
 * (src/json.ts), so a message naming a few of them stays far below this; a longer one quotes something whole.
 */
export const MAX_MESSAGE_CHARS = 1000;

/** Why an exception does not meet the rules, or null when it does. Its causes (shown by consoles) too. */
export function badException(e: unknown): string | null {
  const bad = badError(e);
  if (bad) return bad;
  // An error's cause chain (a wrapped network or parser error) is printed along with it: it is bounded too.
  let cause = (e as Error).cause;
  for (let depth = 1; depth <= 4 && cause !== undefined; depth++) {
    if (cause instanceof Error && cause.message.length > MAX_MESSAGE_CHARS) {
      return `its cause (depth ${depth}) has a message of ${cause.message.length} characters (excerpts must be bounded): ${JSON.stringify(cause.message.slice(0, 120))}…`;
    }
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return null;
}

function badError(e: unknown): string | null {
  if (!(e instanceof Error)) return `threw a non-Error: ${typeof e} ${String(e).slice(0, 80)}`;
  if (e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError) {
    return `threw an engine ${e.name}: ${e.message.slice(0, 200)}`;
  }
  const message = e.message;
  if (message.trim().length === 0) return `threw an ${e.name} without a message`;
  const engine = ENGINE_MESSAGES.find((p) => p.test(message));
  if (engine) return `engine message leaked (${e.name}): ${message.slice(0, 200)}`;
  if (message.length > MAX_MESSAGE_CHARS) return `message of ${message.length} characters (excerpts must be bounded): ${JSON.stringify(message.slice(0, 120))}…`;
  // Issue 19: callers switch on the code, so every refusal carries one, and none of them may be a bug's.
  const code = errorCode(e);
  if (code === undefined) return `threw an ${e.name} without the library's error code: ${message.slice(0, 200)}`;
  if (code === 'E_INTERNAL') return `threw an internal error (a bug, not a refusal): ${message.slice(0, 200)}`;
  return null;
}

/** The generator seed of input `index` of `target` in a run seeded `seed`. */
export function inputSeed(seed: number, target: string, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const c of `${target}#${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

export interface RunOptions {
  seed: number;
  /** Inputs to run: 0..n-1, or only `index`. */
  n: number;
  index?: number;
  /** Stop after this many failures (the rest would repeat them). */
  maxFailures?: number;
  /** Called every few seconds with the inputs done so far. */
  onProgress?: (done: number) => void;
}

function timeout(ms: number): { promise: Promise<'timeout'>; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

export async function runTarget<I>(target: FuzzTarget<I>, options: RunOptions): Promise<FuzzReport> {
  const runner = await target.setup();
  const report: FuzzReport = { target: target.name, inputs: 0, refused: 0, accepted: 0, failures: [], ms: 0, slowestMs: 0, longestMessage: 0 };
  const start = performance.now();
  let lastProgress = start;
  const indices = options.index !== undefined ? [options.index] : Array.from({ length: options.n }, (_, i) => i);
  try {
    for (const index of indices) {
      const input = runner.generate(new Rng(inputSeed(options.seed, target.name, index)), index);
      const fail = (problem: string) =>
        report.failures.push({ target: target.name, seed: options.seed, index, problem, input: runner.describe(input) });
      const t0 = performance.now();
      const hang = Math.max(target.limitMs, target.acceptedLimitMs ?? 0) * 5;
      const limit = timeout(hang);
      let outcome: { error?: unknown; oracle?: string | void } | 'timeout';
      try {
        outcome = await Promise.race([
          Promise.resolve()
            .then(() => runner.run(input))
            .then(
              (oracle) => ({ oracle }),
              (error: unknown) => ({ error }),
            ),
          limit.promise,
        ]);
      } finally {
        limit.cancel();
      }
      const ms = performance.now() - t0;
      report.inputs++;
      report.slowestMs = Math.max(report.slowestMs, ms);
      if (outcome === 'timeout') {
        fail(`still running after ${hang} ms (limit ${target.limitMs} ms); the run stops here`);
        break;
      }
      let limitMs = target.limitMs;
      if ('error' in outcome) {
        report.refused++;
        if (outcome.error instanceof Error) report.longestMessage = Math.max(report.longestMessage, outcome.error.message.length);
        const bad = badException(outcome.error);
        if (bad) fail(bad);
      } else {
        report.accepted++;
        limitMs = target.acceptedLimitMs ?? limitMs;
        if (outcome.oracle) fail(outcome.oracle);
      }
      if (ms > limitMs) fail(`took ${ms.toFixed(0)} ms, over the ${limitMs} ms limit`);
      const after = await runner.after?.();
      if (after) fail(after);
      if (report.failures.length >= (options.maxFailures ?? 20)) break;
      if (options.onProgress && performance.now() - lastProgress > 5000) {
        lastProgress = performance.now();
        options.onProgress(report.inputs);
      }
    }
  } finally {
    await runner.teardown?.();
  }
  report.ms = performance.now() - start;
  return report;
}

export function formatFailure(f: FuzzFailure): string {
  return `[${f.target}] seed ${f.seed} index ${f.index}: ${f.problem}\n    input: ${f.input}`;
}

/** Hex of the first bytes, and the length. */
export function hexExcerpt(bytes: Uint8Array, max = 48): string {
  const hex = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `${bytes.length} bytes: ${hex}${bytes.length > max ? ' …' : ''}`;
}
