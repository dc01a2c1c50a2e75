// The pipeline cache's keys and errors: a WGSL compile error from Dawn points into the shader file it came from
// (file, line, the line's text, a caret under the column) and is an ImageGPTError 'E_INTERNAL'; kernel names and
// entry points are typed, so a misspelt entry point does not compile.
import { describe, it, expect } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { ImageGPTError } from '../../src/errors';
import { PipelineCache, assembleSource, formatCompilationMessage, shader, type EntryPoint } from '../../src/gpu/pipelines';
import { KernelContext } from '../../src/gpu/context';

describe('pipeline cache: compile errors and typed keys', () => {
  it('assembleSource records where each file starts; a message is placed in its file with the line and a caret', () => {
    const source = assembleSource([shader('a.wgsl', 'line a1\nline a2\n'), shader('b.wgsl', 'fn f() {\n  let x: u32 = 1.5;\n}')]);
    // 'line a2\n' ends with a newline: a.wgsl holds 3 lines (the last empty), so b.wgsl starts at line 4.
    expect(source.files).toEqual([{ name: 'shaders/a.wgsl', firstLine: 1 }, { name: 'shaders/b.wgsl', firstLine: 4 }]);
    const message = formatCompilationMessage(source, { type: 'error', message: 'bad number', lineNum: 5, linePos: 16, length: 3 });
    expect(message).toBe(
      ['  shaders/b.wgsl:2:16: error: bad number', '    2 |   let x: u32 = 1.5;', '      |                ^^^'].join('\n'),
    );
    // No position: the text alone; a span running past the line is cut at its end.
    expect(formatCompilationMessage(source, { type: 'error', message: 'no entry', lineNum: 0, linePos: 0, length: 0 })).toBe('  error: no entry');
    expect(formatCompilationMessage(source, { type: 'error', message: 'm', lineNum: 1, linePos: 6, length: 99 }).split('\n')[2]).toBe('      |      ^^');
  });

  it("Dawn's compile error of a composed kernel names the file, shows the line and a caret, code E_INTERNAL", async () => {
    const device = await getTestDevice();
    const ctx = new KernelContext(device);
    // step.wgsl comes first in every kernel: the broken line is line 2 of its own file, not of the whole module.
    const helper = shader('broken-helper.wgsl', 'fn half() -> f32 {\n  return 0.5;\n}');
    const broken = shader('broken-kernel.wgsl', '@compute @workgroup_size(1)\nfn meanPoolSum() {\n  let x: u32 = half();\n}');
    ctx.composed('mean_pool.wgsl/broken-on-purpose', [helper, broken], 'meanPoolSum', {});
    const error = await ctx.ready().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageGPTError);
    expect((error as ImageGPTError).code).toBe('E_INTERNAL');
    const lines = (error as Error).message.split('\n');
    expect(lines[0]).toBe('WGSL kernel mean_pool.wgsl/broken-on-purpose does not compile:');
    // Dawn reports the line and column of `half()` (or of the declaration): either way inside broken-kernel.wgsl's line 3.
    const at = lines.findIndex((l) => l.startsWith('  shaders/broken-kernel.wgsl:3:'));
    expect(at, (error as Error).message).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe('    3 |   let x: u32 = half();');
    expect(lines[at + 2]).toMatch(/^ {6}\| {3,}\^+$/);
    await expect(ctx.ready()).resolves.toBeUndefined(); // reported once
  });

  it('a misspelt entry point or an unknown kernel does not typecheck', () => {
    const device = {} as GPUDevice;
    // Never called: the checks are the compiler's (tsc fails if a line below stops being an error).
    const misspelt = () => {
      const cache = PipelineCache.forDevice(device);
      // @ts-expect-error 'matvecc' is no entry point of matmul.wgsl
      cache.get('matmul.wgsl/f32', '', 'matvecc', {});
      // @ts-expect-error an entry point of another kernel
      cache.get('sample.wgsl', '', 'matvec', {});
      // @ts-expect-error no such kernel
      cache.get('matmull.wgsl', '', 'matvec', {});
    };
    expect(typeof misspelt).toBe('function');
    const entry: EntryPoint<'attention.wgsl'> = 'attentionSplit';
    expect(entry).toBe('attentionSplit');
  });
});
