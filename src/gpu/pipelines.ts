// Shader modules and compute pipelines, made once per distinct (kernel, entry point, constants).
// Kernel names and entry points come from one table (KERNEL_ENTRY_POINTS), so a misspelt entry point is a type
// error, not a pipeline failure. Two ways in: `get()` makes a pipeline synchronously (Ops make their bind groups
// from it at once), which stalls the calling thread while the driver compiles; `collect()` + `compile()` find the
// pipelines some code would ask for without making them, then make them all with createComputePipelineAsync, in
// parallel, so that the code's later get() calls only hit the cache (the model does this at load: model/precompile.ts).
// Errors come back asynchronously either way and become one ImageGPTError 'E_INTERNAL' (from `ready()`, or from
// `compile()`) whose compile errors show the offending line of the shader file, with a caret under the column.
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

/** A pipeline some code asks for: what get() would make, and compile() makes asynchronously. */
export interface PipelineRequest {
  /** The cache key: kernel, entry point and constants. */
  readonly key: string;
  readonly kernel: string;
  readonly source: ShaderSource;
  readonly entryPoint: string;
  readonly constants: PipelineConstants;
}

/** A shader module, and its compile report: null, or the message naming each error's file, line and column. */
interface ModuleEntry {
  readonly module: GPUShaderModule;
  readonly report: Promise<string | null>;
  /** Whether `report` is already among the checks ready() awaits (once per module). */
  queued: boolean;
}

/**
 * What get() and checked() return while collect() runs: a placeholder the dry run may pass around (bind it, set it
 * on a pass that records nothing) but never use. Reading any of its fields throws, naming what it stands for.
 */
function standIn<T>(what: string): T {
  return new Proxy(Object.freeze({}), {
    get(_target, field) {
      if (field === 'then' || typeof field === 'symbol') return undefined; // not a promise, not iterable
      throw new ImageGPTError('E_INTERNAL', `${what}: a stand-in made by PipelineCache.collect() was used (its ${String(field)} was read); a dry run may only pass it on`);
    },
  }) as T;
}

/** The message of a rejected createComputePipelineAsync (a GPUPipelineError: reason 'validation' or 'internal'). */
function pipelineErrorText(e: unknown): string {
  const reason = typeof e === 'object' && e !== null && 'reason' in e ? ` (${String(e.reason)})` : '';
  const message = e instanceof Error || (typeof e === 'object' && e !== null && 'message' in e) ? String((e as { message: unknown }).message) : String(e);
  return `${message}${reason}`;
}

/** One cache per device: pipelines are immutable, so every model on a device shares them (compiled once). */
const perDevice = new WeakMap<GPUDevice, PipelineCache>();

export class PipelineCache {
  /** Each kernel's module and its compile report (a pipeline's own error is only that echo when it did not compile). */
  private readonly modules = new Map<string, ModuleEntry>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** compile()'s pipelines still being made, by key: a second compile() of one waits for the first. */
  private readonly compiling = new Map<string, Promise<string | null>>();
  private pendingChecks: Promise<string | null>[] = [];
  /** While collect() runs: the requests get() has seen (none is made). */
  private collecting: Map<string, PipelineRequest> | null = null;
  private madeSync = 0;
  private madeAsync = 0;

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

  /** Pipelines get() made synchronously (each stalled its caller while it compiled); compile()'s are not counted. */
  get synchronousCount(): number {
    return this.madeSync;
  }

  /** Pipelines compile() made with createComputePipelineAsync. */
  get asynchronousCount(): number {
    return this.madeAsync;
  }

  /**
   * The pipeline of `entryPoint` in kernel `kernel` (a family of KERNEL_ENTRY_POINTS, or a variant of it), whose
   * WGSL is `source`: assembled from named files, or one file's text (named by the family). From the cache where
   * compile() or an earlier get() made it; else made now, synchronously, because Ops make their bind groups from it
   * at once; its compile and validation errors come from ready(). While collect() runs, only recorded.
   */
  get<F extends KernelFamily>(kernel: KernelName<F>, source: ShaderSource | string, entryPoint: EntryPoint<F>, constants: PipelineConstants): GPUComputePipeline {
    const key = `${kernel}|${entryPoint}|${JSON.stringify(constants)}`;
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    const assembled = typeof source === 'string' ? assembleSource([shader(kernel.split('/')[0], source)]) : source;
    const where = `${kernel} (${entryPoint}, ${JSON.stringify(constants)})`;
    if (this.collecting) {
      this.collecting.set(key, { key, kernel, source: assembled, entryPoint, constants });
      return standIn(`the pipeline ${where}`);
    }
    const m = this.module(kernel, assembled);
    if (!m.queued) {
      m.queued = true;
      this.pendingChecks.push(m.report);
    }
    const compiled = m.report.then((r) => r === null);
    const pipeline = this.checked(
      where,
      () => this.device.createComputePipeline({ label: where, layout: 'auto', compute: { module: m.module, entryPoint, constants } }),
      compiled,
    );
    this.madeSync++;
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  /**
   * The pipelines `dryRun` asks get() for that the cache does not hold yet, without making any: while it runs,
   * get() and checked() only return stand-ins (see standIn), so it must build its Ops and record them on a pass
   * that records nothing, and throw the Ops away. Synchronous, so nothing else sees the stand-ins.
   */
  collect(dryRun: () => void): PipelineRequest[] {
    if (this.collecting) throw new ImageGPTError('E_INTERNAL', 'PipelineCache.collect: called inside another collect()');
    const requests = new Map<string, PipelineRequest>();
    this.collecting = requests;
    try {
      dryRun();
    } finally {
      this.collecting = null;
    }
    return [...requests.values()];
  }

  /**
   * Makes the requested pipelines with createComputePipelineAsync, all at once, and caches them for get(). Rejects
   * with one ImageGPTError 'E_INTERNAL' naming each failure: a module that does not compile as ready() shows it
   * (file, line, column, the line and a caret), any other GPUPipelineError with its message and reason.
   */
  async compile(requests: readonly PipelineRequest[]): Promise<void> {
    const failures = (await Promise.all(requests.map((r) => this.compileOne(r)))).filter((m): m is string => m !== null);
    if (failures.length > 0) throw new ImageGPTError('E_INTERNAL', failures.join('\n'));
  }

  private compileOne(r: PipelineRequest): Promise<string | null> {
    if (this.pipelines.has(r.key)) return Promise.resolve(null);
    const inFlight = this.compiling.get(r.key);
    if (inFlight) return inFlight;
    const where = `${r.kernel} (${r.entryPoint}, ${JSON.stringify(r.constants)})`;
    const m = this.module(r.kernel, r.source);
    const made = this.device
      .createComputePipelineAsync({ label: where, layout: 'auto', compute: { module: m.module, entryPoint: r.entryPoint, constants: r.constants } })
      .then(
        (pipeline): string | null => {
          this.madeAsync++;
          if (!this.pipelines.has(r.key)) this.pipelines.set(r.key, pipeline);
          return null;
        },
        // A module that did not compile rejects every pipeline made from it: its report says where.
        async (e: unknown) => (await m.report) ?? `WebGPU rejected ${where}: ${pipelineErrorText(e)}`,
      )
      .finally(() => this.compiling.delete(r.key));
    this.compiling.set(r.key, made);
    return made;
  }

  /** Resolves once every module and pipeline get() made so far is known good; otherwise rejects with an
   *  ImageGPTError 'E_INTERNAL' naming each failed kernel (a compile error with its file, line and column). */
  async ready(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    const failures = (await Promise.all(checks)).filter((m): m is string => m !== null);
    if (failures.length > 0) throw new ImageGPTError('E_INTERNAL', failures.join('\n'));
  }

  private module(kernel: string, source: ShaderSource): ModuleEntry {
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
    const made: ModuleEntry = { module: scoped.made, report, queued: false };
    this.modules.set(kernel, made);
    return made;
  }

  /** Runs `create` inside error scopes; a failure surfaces in the next `ready()`, unless `madeFrom` (the module it
   *  was made from) did not compile: that error says it already. While collect() runs, makes nothing and returns a
   *  stand-in. */
  checked<T>(what: string, create: () => T, madeFrom: Promise<boolean> = Promise.resolve(true)): T {
    if (this.collecting) return standIn(what);
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
