// Shader modules and compute pipelines, made once per distinct (kernel, entry point, constants).
// Kernel names and entry points come from one table (KERNEL_ENTRY_POINTS), so a misspelt entry point is a type
// error, not a pipeline failure. WebGPU reports compile and validation errors asynchronously: every creation is
// checked once, and `ready()` turns the failures into one ImageGPTError 'E_INTERNAL' whose compile errors show the
// offending line of the shader file it came from, with a caret under the column.
import { ImageGPTError } from '../errors';

export type PipelineConstants = Record<string, number>;

/**
 * Every kernel family (named by its main file in shaders/) and its entry points. A family's module may be composed
 * of several files (snippets and parts: see the Ops' modules); its name stays the family's.
 */
export const KERNEL_ENTRY_POINTS = {
  'embed.wgsl': ['embed'],
  'rms_norm.wgsl': ['rmsNorm', 'rmsNormPerThread', 'rmsNormSubgroups'],
  'matmul.wgsl': ['matvec', 'matvecSplitK', 'matvecQuads', 'matvecQuadsSplitK', 'matmulRegisters', 'matmulShared', 'matmulNaive'],
  'kv_append.wgsl': ['kvAppend'],
  'attention.wgsl': ['attention', 'attentionPerThread', 'attentionSplit', 'attentionCombine', 'attentionMaskedRows'],
  'attention-decode.wgsl': ['attentionDecode'],
  'attention-weights.wgsl': ['attentionWeights'],
  'head_scale.wgsl': ['headScale'],
  'mean_pool.wgsl': ['meanPoolSum'],
  'cross-entropy.wgsl': ['crossEntropy'],
  'sample.wgsl': ['main'],
  'grad_norm.wgsl': ['sumSquares', 'sumPartials'],
  'adamw.wgsl': ['adamw'],
  'train_matmul.wgsl': ['trainMatmul'],
  'column_sum.wgsl': ['columnSum'],
  'train_norm.wgsl': ['normForward', 'normBackward'],
  'train_quick_gelu.wgsl': ['quickGeluForward', 'quickGeluBackward'],
  'train_cross_entropy.wgsl': ['crossEntropyBackward'],
  'train_embedding.wgsl': ['embeddingForward', 'tokenGrad', 'positionGrad'],
  'train_attention.wgsl': ['attentionForward', 'rowStats', 'queryGrad', 'keyValueGrad'],
  'dropout.wgsl': ['dropout', 'dropoutInto'],
  'train_pool.wgsl': ['poolForward', 'poolBackward'],
} as const;

export type KernelFamily = keyof typeof KERNEL_ENTRY_POINTS;
/** The entry points of one kernel family. */
export type EntryPoint<F extends KernelFamily> = (typeof KERNEL_ENTRY_POINTS)[F][number];
/** A kernel family, or one of its variants after a slash (weight reading, snippets): `matmul.wgsl/f16-native+norm`. */
export type KernelName<F extends KernelFamily> = F | `${F}/${string}`;

/** One shader file as a module is assembled from it: its name (for errors) and its text. */
export interface ShaderFile {
  readonly name: string;
  readonly code: string;
}

/** The file shaders/`file` holding `code` (as imported with `?raw`). */
export function shader(file: string, code: string): ShaderFile {
  return { name: `shaders/${file}`, code };
}

/** WGSL assembled from shader files, and the line of the whole at which each file starts (1-based). */
export interface ShaderSource {
  readonly code: string;
  readonly files: readonly { readonly name: string; readonly firstLine: number }[];
}

/** The files joined by newlines, remembering where each starts. */
export function assembleSource(files: readonly ShaderFile[]): ShaderSource {
  let line = 1;
  const starts = files.map((f) => {
    const start = { name: f.name, firstLine: line };
    line += f.code.split('\n').length;
    return start;
  });
  return { code: files.map((f) => f.code).join('\n'), files: starts };
}

/** What a compile message points at: the file, its line there, and the text of that line. */
function locate(source: ShaderSource, lineNum: number): { file: string; line: number; text: string } {
  let file = source.files[0];
  for (const f of source.files) if (f.firstLine <= lineNum) file = f;
  return { file: file.name, line: lineNum - file.firstLine + 1, text: source.code.split('\n')[lineNum - 1] ?? '' };
}

/**
 * One compile message as `file:line:column: error: message`, then the offending line and a caret under the
 * column (one per character of the span the compiler names). Messages without a position keep only their text.
 */
export function formatCompilationMessage(source: ShaderSource, m: Pick<GPUCompilationMessage, 'type' | 'message' | 'lineNum' | 'linePos' | 'length'>): string {
  if (m.lineNum < 1) return `  ${m.type}: ${m.message}`;
  const at = locate(source, m.lineNum);
  const gutter = `${at.line} | `;
  const column = Math.max(1, m.linePos);
  const carets = Math.max(1, Math.min(m.length, at.text.length - column + 1));
  return [
    `  ${at.file}:${at.line}:${column}: ${m.type}: ${m.message}`,
    `    ${gutter}${at.text}`,
    `    ${' '.repeat(gutter.length - 2)}| ${' '.repeat(column - 1)}${'^'.repeat(carets)}`,
  ].join('\n');
}

/** One cache per device: pipelines are immutable, so every model on a device shares them (compiled once). */
const perDevice = new WeakMap<GPUDevice, PipelineCache>();

export class PipelineCache {
  /** Each kernel's module, and whether it compiled (its pipelines' errors are only that echo when it did not). */
  private readonly modules = new Map<string, { module: GPUShaderModule; compiled: Promise<boolean> }>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private pendingChecks: Promise<string | null>[] = [];

  /** Only through forDevice: a second cache on a device would compile every kernel again. */
  private constructor(private readonly device: GPUDevice) {}

  /** The device's shared cache (made on first use). */
  static forDevice(device: GPUDevice): PipelineCache {
    let cache = perDevice.get(device);
    if (!cache) {
      cache = new PipelineCache(device);
      perDevice.set(device, cache);
    }
    return cache;
  }

  /** Pipelines made so far (each compiled once): a new session length must not add any. */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /**
   * The pipeline of `entryPoint` in kernel `kernel` (a family of KERNEL_ENTRY_POINTS, or a variant of it), whose
   * WGSL is `source`: assembled from named files, or one file's text (named by the family). Made synchronously,
   * because Ops make their bind groups from it at once; its compile and validation errors come from ready().
   */
  get<F extends KernelFamily>(kernel: KernelName<F>, source: ShaderSource | string, entryPoint: EntryPoint<F>, constants: PipelineConstants): GPUComputePipeline {
    const key = `${kernel}|${entryPoint}|${JSON.stringify(constants)}`;
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    const assembled = typeof source === 'string' ? assembleSource([shader(kernel.split('/')[0], source)]) : source;
    const { module, compiled } = this.module(kernel, assembled);
    const where = `${kernel} (${entryPoint}, ${JSON.stringify(constants)})`;
    const pipeline = this.checked(
      where,
      () => this.device.createComputePipeline({ label: where, layout: 'auto', compute: { module, entryPoint, constants } }),
      compiled,
    );
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  /** Resolves once every module and pipeline made so far is known good; otherwise rejects with an ImageGPTError
   *  'E_INTERNAL' naming each failed kernel (a compile error with its file, line and column). */
  async ready(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    const failures = (await Promise.all(checks)).filter((m): m is string => m !== null);
    if (failures.length > 0) throw new ImageGPTError('E_INTERNAL', failures.join('\n'));
  }

  private module(kernel: string, source: ShaderSource): { module: GPUShaderModule; compiled: Promise<boolean> } {
    const known = this.modules.get(kernel);
    if (known) return known;
    const scoped = this.scoped(() => this.device.createShaderModule({ label: kernel, code: source.code }));
    // A compile error is reported from the compilation info, placed in its file; the error scope's copy of it
    // (numbered in the assembled module) is dropped. The scope still reports anything else.
    const report = Promise.all([scoped.made.getCompilationInfo(), scoped.error]).then(([info, error]) => {
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length > 0) return `WGSL kernel ${kernel} does not compile:\n${errors.map((m) => formatCompilationMessage(source, m)).join('\n')}`;
      return error ? `WebGPU rejected ${kernel}: ${error.message}` : null;
    });
    this.pendingChecks.push(report);
    const made = { module: scoped.made, compiled: report.then((m) => m === null) };
    this.modules.set(kernel, made);
    return made;
  }

  /** Runs `create` inside error scopes; a failure surfaces in the next `ready()`, unless `madeFrom` (the module it
   *  was made from) did not compile: that error says it already. */
  checked<T>(what: string, create: () => T, madeFrom: Promise<boolean> = Promise.resolve(true)): T {
    const scoped = this.scoped(create);
    this.pendingChecks.push(
      Promise.all([scoped.error, madeFrom]).then(([error, sourceOk]) => (error && sourceOk ? `WebGPU rejected ${what}: ${error.message}` : null)),
    );
    return scoped.made;
  }

  /** `create`'s result and its first validation or internal error (null when none). */
  private scoped<T>(create: () => T): { made: T; error: Promise<GPUError | null> } {
    this.device.pushErrorScope('internal');
    this.device.pushErrorScope('validation');
    const made = create();
    const validation = this.device.popErrorScope();
    const internal = this.device.popErrorScope();
    return { made, error: Promise.all([validation, internal]).then(([v, i]) => v ?? i) };
  }
}
