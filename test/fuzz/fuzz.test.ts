// The fuzz suite's short fixed-seed run, inside `npm test` (issue 12: "a fuzz suite that stays"). The same
// targets run longer with `npm run fuzz -- --n N --seed S`. A failure prints seed, index and an excerpt of the
// input; `npm run fuzz -- --target T --seed S --index I` reruns it alone.
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_CHARS, badException, formatFailure, runTarget, type FuzzTarget } from './harness';
import { clip, quote, quoteList } from '../../src/json';
import { ImageGPTError } from '../../src/errors';
import { configTarget, processorConfigTarget, safetensorsTarget, torchTarget } from './parsers';
import { apiTarget } from './api';

const SEED = 20261130;

async function expectClean<I>(target: FuzzTarget<I>, n: number): Promise<void> {
  const report = await runTarget(target, { seed: SEED, n, maxFailures: 10 });
  expect(report.failures.map(formatFailure)).toEqual([]);
  expect(report.inputs).toBe(n);
  // Both outcomes must be exercised, or the mutations are too weak (or too strong) to test anything.
  expect(report.refused).toBeGreaterThan(0);
  expect(report.accepted).toBeGreaterThan(0);
}

describe('fuzz (fixed seed, short)', () => {
  it('safetensors: whole files and the streaming reader', () => expectClean(safetensorsTarget, 1500));
  it('config.json', () => expectClean(configTarget, 1500));
  it('preprocessor_config.json', () => expectClean(processorConfigTarget, 800));
  it('torch.save checkpoints and their pickles', () => expectClean(torchTarget, 400));
  it('public API options on the tiny model (GPU)', () => expectClean(apiTarget, 40));
});

describe('bounded excerpts of untrusted names (src/json.ts)', () => {
  it('clip keeps a long name\'s start and end and says how long it was', () => {
    const name = 'a'.repeat(60_126) + '/data.pkl';
    const clipped = clip(name);
    expect(clipped.length).toBeLessThanOrEqual(120);
    expect(clipped).toMatch(/^a+…\(60135 characters\)…a*\/data\.pkl$/);
    expect(clip('transformer.h.0.attn.c_attn.weight')).toBe('transformer.h.0.attn.c_attn.weight');
  });

  it('quote escapes control characters and stays within its bound whatever the name holds', () => {
    expect(quote('archive/data/0')).toBe('"archive/data/0"');
    for (const name of ['\u0001'.repeat(119), '\n"\\'.repeat(50_000), 'é€\u202e'.repeat(30_000), '\ud800'.repeat(500)]) {
      const q = quote(name);
      expect(q.length).toBeLessThanOrEqual(122);
      expect(q).not.toMatch(/[\u0000-\u001f]/);
      expect(JSON.parse(q)).toEqual(expect.any(String));
    }
  });

  it('quoteList shows a few names and counts the rest', () => {
    expect(quoteList(['a', 'b'])).toBe('"a", "b"');
    expect(quoteList(Array.from({ length: 10_000 }, (_, i) => `t${i}`))).toBe('"t0", "t1", "t2", "t3", and 9996 more');
  });
});

describe('the harness catches what it must', () => {
  it('engine errors, non-Errors and errors without a code are failures; named coded Errors are not', () => {
    expect(badException(new ImageGPTError('E_BAD_FILE', 'config.json: "n_embd" must be an integer'))).toBeNull();
    expect(badException(new Error('config.json: "n_embd" must be an integer'))).toMatch(/without the library's error code/);
    expect(badException(new ImageGPTError('E_INTERNAL', 'config.json: a pipeline failed'))).toMatch(/internal error/);
    expect(badException(new RangeError('Maximum call stack size exceeded'))).toMatch(/engine RangeError/);
    expect(badException(new TypeError("Cannot read properties of undefined (reading 'length')"))).toMatch(/engine message leaked/);
    expect(badException(new Error('Offset is outside the bounds of the DataView'))).toMatch(/engine message leaked/);
    expect(badException(new Error('x'.repeat(5000)))).toMatch(/5000 characters/);
    expect(badException(new ImageGPTError('E_BAD_FILE', 'x'.repeat(MAX_MESSAGE_CHARS)))).toBeNull();
    expect(badException(new Error('x'.repeat(MAX_MESSAGE_CHARS + 1)))).toMatch(/1001 characters/);
    // A wrapper with a short message but a whole-quoted cause is caught too.
    expect(badException(new ImageGPTError('E_NETWORK', 'model.bin: load failed', { cause: new Error('y'.repeat(3939)) }))).toMatch(/its cause \(depth 1\) has a message of 3939 characters/);
    expect(badException('a string')).toMatch(/non-Error/);
    expect(badException(new Error(''))).toMatch(/without a message/);
  });

  it('a slow input, an oracle failure and a hang are reported with seed and index', async () => {
    const target: FuzzTarget<number> = {
      name: 'self-test',
      limitMs: 20,
      async setup() {
        return {
          generate: (_rng, index) => index,
          async run(i) {
            if (i === 1) await new Promise((r) => setTimeout(r, 40));
            if (i === 2) return 'accepted something it should not';
            if (i === 3) await new Promise(() => {});
          },
          describe: (i) => `input ${i}`,
        };
      },
    };
    const report = await runTarget(target, { seed: 7, n: 5 });
    expect(report.failures.map((f) => [f.index, f.problem.replace(/\d+ ms,/, 'N ms,')])).toEqual([
      [1, 'took N ms, over the 20 ms limit'],
      [2, 'accepted something it should not'],
      [3, 'still running after 100 ms (limit 20 ms); the run stops here'],
    ]);
    expect(formatFailure(report.failures[0])).toMatch(/^\[self-test\] seed 7 index 1: took \d+ ms.*\n    input: input 1$/);
  });
});
