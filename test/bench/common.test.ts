// The kernel benches' shared argument parsing (bench/common.ts): a shape must be one the bench knows, reps a
// positive integer; and the median they report.
import { describe, it, expect } from 'vitest';
import { kernelBenchArgs, median } from '../../bench/common';

const SHAPES = { emoji: 'E', small: 'S' };

describe('kernelBenchArgs', () => {
  it('takes all shapes and 3 reps by default, one shape by name', () => {
    expect(kernelBenchArgs([], SHAPES)).toEqual({ shapes: ['E', 'S'], reps: 3 });
    expect(kernelBenchArgs(['--shape', 'small', '--reps', '5'], SHAPES)).toEqual({ shapes: ['S'], reps: 5 });
  });

  it('refuses a shape it does not know, naming the ones it does', () => {
    expect(() => kernelBenchArgs(['--shape', 'large'], SHAPES)).toThrow('--shape must be emoji, small or all, got large');
  });

  it('refuses reps that are not a positive integer', () => {
    expect(() => kernelBenchArgs(['--reps', '0'], SHAPES)).toThrow('--reps must be a positive integer, got 0');
    expect(() => kernelBenchArgs(['--reps', 'x'], SHAPES)).toThrow('--reps must be a positive integer, got x');
  });
});

describe('median', () => {
  it('is the middle value, the upper middle of an even count, and leaves its input unsorted', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 2, 3])).toBe(3);
  });
});
