// Issue 18 item 12: what a newcomer copies must compile. (1) Every ```ts block of README.md is type-checked
// against the library (strict, as its own module; the free variables a snippet leaves to the reader, such as
// `imageData`, are declared in PRELUDE). (2) The declarations the package ships compile in a fresh strict consumer
// project with `skipLibCheck: false` and no configuration, resolved through package.json's `exports`, and
// pixels fit `new ImageData(...)` (TypeScript ≥ 5.7 asks for a Uint8ClampedArray<ArrayBuffer>).
// (3) Issue 19 item 4: the package entry exports exactly the names listed here, each one in README.md; its classes
// declare only their documented members (the build's stripInternal drops the rest) and a session cannot be constructed.
import { describe, expect, it, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(__dirname, '..', '..');
// The declarations are emitted as `npm run build` emits them: with the build's stripInternal.
const BUILD = ts.readConfigFile(join(ROOT, 'tsconfig.build.json'), ts.sys.readFile).config as { compilerOptions: { stripInternal?: boolean } };
const SNIPPETS = join(ROOT, 'test', 'docs', '__readme__');

/** What the README's snippets leave to the reader: the image, the canvas and the probe's data. */
const PRELUDE = `
declare const imageData: ImageData;
declare const canvas: HTMLCanvasElement;
declare const ctx: CanvasRenderingContext2D;
declare const trainFeatures: Float32Array;
declare const trainLabels: number[];
declare const testFeatures: Float32Array;
declare const testLabels: number[];
`;

interface Block {
  line: number;
  code: string;
}

export function readmeBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    if (end === lines.length) throw new Error(`README.md line ${i + 1}: a \`\`\`ts block is never closed`);
    blocks.push({ line: i + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

function format(diagnostics: readonly ts.Diagnostic[], where: (file: string, line: number) => string): string[] {
  return diagnostics.map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${where(d.file.fileName, line)}: ${message}`;
  });
}

const blocks = readmeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
const snippetFiles = new Map(blocks.map((b) => [join(SNIPPETS, `line-${b.line}.ts`), b]));
const preludeFile = join(SNIPPETS, 'prelude.d.ts');
// A block with a known error, compiled with the others: proves that errors in blocks are seen and reported.
const canaryFile = join(SNIPPETS, 'canary.ts');
const CANARY = `import { ImageGPTImageProcessor } from 'imagegpt-webgpu';
const count: string = new ImageGPTImageProcessor({ clusters: [[0, 0, 0]] }).numClusters;
export {};
`;
let canaryErrors: string[] = [];
// One program: the library's sources and the README's blocks; its declaration output is what the package ships.
const declarations = new Map<string, string>();
let snippetErrors: string[] = [];

function compileSnippets(): void {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: ['@webgpu/types', 'vite/client', 'node'],
    strict: true,
    isolatedModules: true,
    skipLibCheck: true,
    allowImportingTsExtensions: true,
    resolveJsonModule: true,
    declaration: true,
    emitDeclarationOnly: true,
    stripInternal: BUILD.compilerOptions.stripInternal,
    outDir: join(ROOT, '.declarations'),
    rootDir: ROOT,
    baseUrl: ROOT,
    paths: { 'imagegpt-webgpu': ['src/index.ts'] },
  };
  const host = ts.createCompilerHost(options);
  const virtual = new Map<string, string>([[preludeFile, PRELUDE], [canaryFile, CANARY]]);
  // Each block is its own module (`export {}`), so its top-level names and awaits are its own.
  for (const [file, block] of snippetFiles) virtual.set(file, `${block.code}\nexport {};\n`);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
  host.readFile = (f) => virtual.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, language, onError, create) =>
    virtual.has(f) ? ts.createSourceFile(f, virtual.get(f)!, language, true) : getSourceFile.call(host, f, language, onError, create);
  const program = ts.createProgram([join(ROOT, 'src', 'index.ts'), preludeFile, canaryFile, ...snippetFiles.keys()], options, host);
  const diagnostics = [...snippetFiles.keys()].flatMap((f) => [...program.getSyntacticDiagnostics(program.getSourceFile(f)), ...program.getSemanticDiagnostics(program.getSourceFile(f))]);
  snippetErrors = format(diagnostics, (file, line) => {
    const block = snippetFiles.get(file);
    return block ? `README.md line ${block.line + 1 + line}` : relative(ROOT, file);
  });
  canaryErrors = format(program.getSemanticDiagnostics(program.getSourceFile(canaryFile)), (_, line) => `canary line ${line + 1}`);
  const src = join(options.outDir!, 'src') + '/';
  program.emit(undefined, (file, text) => {
    if (file.startsWith(src) && file.endsWith('.d.ts')) declarations.set(file.slice(src.length), text);
  });
}

describe('README code blocks', () => {
  it('finds the ```ts blocks', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    expect(blocks.some((b) => b.code.includes('models/emoji-16'))).toBe(true);
  });

  it('every ```ts block type-checks against the library (strict)', () => {
    compileSnippets();
    expect(canaryErrors).toEqual(["canary line 2: Type 'number' is not assignable to type 'string'."]);
    expect(snippetErrors).toEqual([]);
  });
});

// The package as npm installs it, in a fresh project: package.json (its exports and types) and dist/types, its
// dependencies beside it, as npm puts them. Made once, for the consumer and the public-surface tests.
const app = mkdtempSync(join(tmpdir(), 'imagegpt-consumer-'));
afterAll(() => rmSync(app, { recursive: true, force: true }));
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { types: string; dependencies: Record<string, string> };
const consumerFile = join(app, 'main.ts');
const CONSUMER = `import { ImageGPT, ImageGPTImageProcessor, LinearProbe, upscaleNearest, type Completion } from 'imagegpt-webgpu';
export async function run(device: GPUDevice, image: ImageData): Promise<ImageData[]> {
  const model = await ImageGPT.fromPretrained('./models/emoji-16', { device });
  const processor = await ImageGPTImageProcessor.fromPretrained('./models/emoji-16');
  const completions: Completion[] = await model.complete(image, { processor, keepRows: 8 });
  const decoded = processor.decode(completions[0].tokens);
  const probe = new LinearProbe({ l2: 1e-3 });
  probe.fit(new Float32Array(4), [0, 1]);
  model.dispose();
  return [
    new ImageData(completions[0].data, completions[0].width, completions[0].height),
    new ImageData(decoded.data, decoded.width, decoded.height),
    new ImageData(upscaleNearest(decoded, 2).data, 2 * decoded.width, 2 * decoded.height),
  ];
}
`;
// What a user must not be able to write: internals of the model and of a session, and a session of their own.
const misuseFile = join(app, 'misuse.ts');
const MISUSE = `import { ImageGPT, ImageGPTSession } from 'imagegpt-webgpu';
export function misuse(model: ImageGPT, session: ImageGPTSession): unknown[] {
  return [model.kernels, model.weights, session.forwardPlan, session.buffers, session.run, session.writeChunk];
}
export const made = new ImageGPTSession();
`;
let consumer: ts.Program | null = null;

function consumerProgram(): ts.Program {
  if (consumer) return consumer;
  if (declarations.size === 0) compileSnippets();
  const pkg = join(app, 'node_modules', 'imagegpt-webgpu');
  for (const [file, text] of declarations) {
    const out = join(pkg, dirname(manifest.types), file);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
  }
  writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest));
  mkdirSync(join(app, 'node_modules', '@webgpu'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', '@webgpu', 'types'), join(app, 'node_modules', '@webgpu', 'types'), 'dir');
  writeFileSync(consumerFile, CONSUMER);
  writeFileSync(misuseFile, MISUSE);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    strict: true,
    skipLibCheck: false,
    // TypeScript's own lib files are not what is tested (checking lib.dom.d.ts alone takes most of a minute).
    skipDefaultLibCheck: true,
    noEmit: true,
  };
  consumer = ts.createProgram([consumerFile, misuseFile], options);
  return consumer;
}

function consumerErrors(program: ts.Program, inMisuse: boolean): string[] {
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => (d.file?.fileName === misuseFile) === inMisuse);
  return format(diagnostics, (file, line) => `${relative(app, file)}:${line + 1}`);
}

describe('the shipped declarations in a consumer project', () => {
  it('compile with skipLibCheck false and no configuration, and pixels fit ImageData', () => {
    const program = consumerProgram();
    expect(declarations.has('index.d.ts')).toBe(true);
    expect(Object.keys(manifest.dependencies)).toContain('@webgpu/types');
    expect(declarations.get('index.d.ts')).toMatch(/^\/\/\/ <reference types="@webgpu\/types"/m);
    // Every file but misuse.ts (whose errors are the next test's): main.ts and each shipped declaration file.
    expect(consumerErrors(program, false)).toEqual([]);
    // It really read the package's declarations (not an `any` fallback for an unresolved module).
    expect(program.getSourceFiles().some((f) => f.fileName.endsWith('imagegpt-webgpu/dist/types/index.d.ts'))).toBe(true);
  });
});

/** Every name the entry may export, each in README.md. Changing it is changing the public API: update README too. */
const PUBLIC_NAMES = [
  // model
  'ImageGPT', 'sosToken', 'logitsWidth', 'parseImageGPTConfig', 'IMAGEGPT_DEFAULTS', 'resolveSampling', 'DEFAULT_TOP_K', 'isCpuAdapter',
  'ImageGPTSession', 'ModelSource', 'LoadOptions', 'LoadProgress', 'PretrainedSource', 'LocalFiles', 'FileOptions', 'ModelCache',
  'ForwardOptions', 'ForwardOutput', 'ForwardResult', 'FeatureOptions', 'MultiFeatureOptions', 'BitsPerToken', 'BitsPerTokenOptions',
  'GenerateOptions', 'GenerateStats', 'SamplingOptions', 'CompleteOptions', 'Completion', 'CompletionRow', 'CompletionProcessor',
  'SessionOptions', 'RowInputs', 'StepInputs', 'HeadMask', 'MemoryReport', 'DeviceFeatures', 'KernelTuning', 'WeightDType',
  'ImageGPTConfig', 'ImageGPTConfigJSON', 'ProblemType',
  // training
  'Trainer', 'TrainerOptions', 'TrainStepOptions', 'TrainStepResult', 'ForImageClassificationOptions',
  // processor
  'ImageGPTImageProcessor', 'upscaleNearest', 'maskRows', 'ImageGPTImageProcessorOptions', 'EncodeOptions', 'DecodeOptions',
  'PreprocessorConfig', 'ImageSize', 'RgbImage', 'RgbaImage', 'ImageInput', 'PixelImage', 'BrowserImageSource', 'Rgb', 'ResampleFilter',
  // probe
  'LinearProbe', 'LinearProbeOptions', 'FitOptions', 'FitProgress', 'FitResult', 'LinearProbeJSON', 'ClassLabels', 'FeatureMatrix',
  'LbfgsStopReason',
  // safetensors
  'parseSafetensors', 'writeSafetensors', 'tensorToFloat32', 'SafetensorsFile', 'SafetensorsTensor', 'SafetensorsDType',
  // errors
  'ImageGPTError', 'ERROR_CODES', 'errorCode', 'ErrorCode',
];

/** Each exported class's public members (statics as `static name`), as README documents them. */
const PUBLIC_MEMBERS: Record<string, string[]> = {
  ImageGPT: [
    'static fromPretrained', 'static forImageClassification', 'config', 'device', 'dtype', 'tuning', 'deviceFeatures', 'lost', 'isLost', 'createSession', 'forward',
    'attentionRow', 'bitsPerToken', 'features', 'classify', 'generate', 'complete', 'createTrainer', 'memory', 'dispose',
  ],
  Trainer: ['batchSize', 'seqLength', 'gpuBytes', 'stepCount', 'dispatchCounts', 'step', 'save', 'saveState', 'loadState', 'dispose'],
  ImageGPTSession: ['batchSize', 'maxLength', 'maxRows', 'length', 'prefill', 'step', 'reset', 'dispose'],
  ImageGPTImageProcessor: [
    'static fromPretrained', 'static fromConfig', 'clusters', 'numClusters', 'sosToken', 'size', 'doResize', 'background',
    'prependSos', 'normalize', 'resample', 'palette', 'resize', 'encode', 'decode',
  ],
  LinearProbe: [
    'static fromJSON', 'l2', 'standardize', 'isFitted', 'numFeatures', 'numClasses', 'classes', 'lastFit', 'fit', 'predictProba',
    'predict', 'predictLabels', 'score', 'confusionMatrix', 'toJSON',
  ],
  // Its message, name, stack and cause are Error's (the platform's types declare them, Node's add statics).
  ImageGPTError: ['code'],
};

/** The identifiers README.md shows as code: in `spans` and in ```ts blocks. */
function readmeCodeWords(): Set<string> {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const code = [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]).concat(readmeBlocks(text).map((b) => b.code));
  return new Set(code.flatMap((c) => c.match(/[A-Za-z_$][\w$]*/g) ?? []));
}

function isHidden(member: ts.Symbol): boolean {
  return (member.declarations ?? []).some((d) => (ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0);
}

/** A member only the platform's types declare (what an Error subclass inherits): not the library's to document. */
function isPlatformMember(program: ts.Program, member: ts.Symbol): boolean {
  const declarations = member.declarations ?? [];
  return declarations.length > 0 && declarations.every((d) => {
    const file = d.getSourceFile();
    return program.isSourceFileDefaultLibrary(file) || file.fileName.includes('/node_modules/@types/');
  });
}

/** The entry's exports, and each exported class's public members, as a consumer's checker sees them. */
function publicSurface(): { names: string[]; classes: Map<string, string[]> } {
  const program = consumerProgram();
  const own = (m: ts.Symbol) => !isHidden(m) && !isPlatformMember(program, m);
  const checker = program.getTypeChecker();
  const index = program.getSourceFiles().find((f) => f.fileName.endsWith('imagegpt-webgpu/dist/types/index.d.ts'));
  const entry = index && checker.getSymbolAtLocation(index);
  if (!entry) throw new Error('the consumer did not load the package entry index.d.ts');
  const names: string[] = [];
  const classes = new Map<string, string[]>();
  for (const symbol of checker.getExportsOfModule(entry)) {
    names.push(symbol.name);
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    if (!(target.flags & ts.SymbolFlags.Class)) continue;
    const instance = checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(target)).filter(own);
    const statics = checker
      .getPropertiesOfType(checker.getTypeOfSymbol(target))
      .filter((m) => own(m) && m.name !== 'prototype');
    classes.set(symbol.name, [...statics.map((m) => `static ${m.name}`), ...instance.map((m) => m.name)]);
  }
  return { names, classes };
}

describe('the public surface: what README documents and nothing more', () => {
  it('the package entry exports exactly the listed names, and README.md shows each one as code', () => {
    const { names } = publicSurface();
    expect([...names].sort()).toEqual([...PUBLIC_NAMES].sort());
    const words = readmeCodeWords();
    expect(PUBLIC_NAMES.filter((n) => !words.has(n))).toEqual([]);
  });

  it('each exported class declares only its documented members: no kernels, weights, plans or buffers', () => {
    const { classes } = publicSurface();
    expect([...classes.keys()].sort()).toEqual(Object.keys(PUBLIC_MEMBERS).sort());
    for (const [name, members] of classes) expect([...members].sort(), name).toEqual([...PUBLIC_MEMBERS[name]].sort());
    expect(classes.get('ImageGPT')).not.toContain('kernels');
    expect(classes.get('ImageGPT')).not.toContain('weights');
    const words = readmeCodeWords();
    const undocumented = Object.values(PUBLIC_MEMBERS).flat().map((m) => m.replace('static ', '')).filter((m) => !words.has(m));
    expect(undocumented).toEqual([]);
    // The build strips what carries the tag: none of it ships, in any declaration file.
    expect([...declarations].filter(([, text]) => text.includes('@internal')).map(([file]) => file)).toEqual([]);
  });

  it('a consumer cannot reach the internals or construct a session', () => {
    expect(consumerErrors(consumerProgram(), true)).toEqual([
      "misuse.ts:3: Property 'kernels' does not exist on type 'ImageGPT'.",
      "misuse.ts:3: Property 'weights' does not exist on type 'ImageGPT'.",
      "misuse.ts:3: Property 'forwardPlan' does not exist on type 'ImageGPTSession'.",
      "misuse.ts:3: Property 'buffers' does not exist on type 'ImageGPTSession'.",
      "misuse.ts:3: Property 'run' does not exist on type 'ImageGPTSession'.",
      "misuse.ts:3: Property 'writeChunk' does not exist on type 'ImageGPTSession'.",
      // Its constructor is stripped too, but a class without one declares `new ()`: the type-only export is what stops it.
      "misuse.ts:5: 'ImageGPTSession' cannot be used as a value because it was exported using 'export type'.",
    ]);
  });
});
