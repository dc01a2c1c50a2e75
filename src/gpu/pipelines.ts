// Shader modules and compute pipelines, made once per distinct (kernel, entry point, constants).
// WebGPU reports compile and validation errors asynchronously: every creation is checked once,
// and `ready()` turns the first failure into an Error naming the kernel.

export type PipelineConstants = Record<string, number>;

/** One cache per device: pipelines are immutable, so every model on a device shares them (compiled once). */
const perDevice = new WeakMap<GPUDevice, PipelineCache>();

export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
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

  /** `kernel` names one WGSL source (snippets included: e.g. `matmul.wgsl/f16`); `code` is that source. */
  get(kernel: string, code: string, entryPoint: string, constants: PipelineConstants): GPUComputePipeline {
    const key = `${kernel}|${entryPoint}|${JSON.stringify(constants)}`;
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    const module = this.module(kernel, code);
    const where = `${kernel} (${entryPoint}, ${JSON.stringify(constants)})`;
    const pipeline = this.checked(where, () =>
      this.device.createComputePipeline({ label: where, layout: 'auto', compute: { module, entryPoint, constants } }),
    );
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  /** Resolves once every module and pipeline made so far is known good; otherwise rejects naming the kernel. */
  async ready(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    const failures = (await Promise.all(checks)).filter((m): m is string => m !== null);
    if (failures.length > 0) throw new Error(failures.join('\n'));
  }

  private module(kernel: string, code: string): GPUShaderModule {
    let module = this.modules.get(kernel);
    if (module) return module;
    const created = this.checked(kernel, () => this.device.createShaderModule({ label: kernel, code }));
    this.pendingChecks.push(
      created.getCompilationInfo().then((info) => {
        const errors = info.messages.filter((m) => m.type === 'error');
        if (errors.length === 0) return null;
        const lines = errors.map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`);
        return `WGSL kernel ${kernel} does not compile:\n${lines.join('\n')}`;
      }),
    );
    module = created;
    this.modules.set(kernel, module);
    return module;
  }

  /** Runs `create` inside error scopes; a failure surfaces in the next `ready()`. */
  checked<T>(what: string, create: () => T): T {
    this.device.pushErrorScope('internal');
    this.device.pushErrorScope('validation');
    const made = create();
    const validation = this.device.popErrorScope();
    const internal = this.device.popErrorScope();
    this.pendingChecks.push(
      Promise.all([validation, internal]).then(([v, i]) => {
        const error = v ?? i;
        return error ? `WebGPU rejected ${what}: ${error.message}` : null;
      }),
    );
    return made;
  }
}
