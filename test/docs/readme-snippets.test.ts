// Issue 18 item 12: what a newcomer copies must compile. (1) Every ```ts block of README.md is type-checked
// against the library (strict, as its own module; the free variables a snippet leaves to the reader, such as
// `imageData`, are declared in PRELUDE). (2) The declarations the package ships compile in a fresh strict consumer
// project with `skipLibCheck: false` and no configuration, resolved through package.json's `exports`, and
// pixels fit `new ImageData(...)` (TypeScript ≥ 5.7 asks for a Uint8ClampedArray<ArrayBuffer>).
import { describe, expect, it, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(__dirname, '..', '..');
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

describe('the shipped declarations in a consumer project', () => {
  const app = mkdtempSync(join(tmpdir(), 'imagegpt-consumer-'));
  afterAll(() => rmSync(app, { recursive: true, force: true }));

  it('compile with skipLibCheck false and no configuration, and pixels fit ImageData', () => {
    if (declarations.size === 0) compileSnippets();
    expect(declarations.has('index.d.ts')).toBe(true);
    // The package as npm installs it: package.json (its exports and types) and dist/types; its dependencies
    // beside it, as npm puts them.
    const pkg = join(app, 'node_modules', 'imagegpt-webgpu');
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { types: string; dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies)).toContain('@webgpu/types');
    for (const [file, text] of declarations) {
      const out = join(pkg, dirname(manifest.types), file);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, text);
    }
    writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest));
    mkdirSync(join(app, 'node_modules', '@webgpu'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', '@webgpu', 'types'), join(app, 'node_modules', '@webgpu', 'types'), 'dir');
    expect(declarations.get('index.d.ts')).toMatch(/^\/\/\/ <reference types="@webgpu\/types"/m);

    const consumer = join(app, 'main.ts');
    writeFileSync(
      consumer,
      `import { ImageGPT, ImageGPTImageProcessor, LinearProbe, upscaleNearest, type Completion } from 'imagegpt-webgpu';
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
`,
    );
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
    const program = ts.createProgram([consumer], options);
    const errors = format(ts.getPreEmitDiagnostics(program), (file, line) => `${relative(app, file)}:${line + 1}`);
    expect(errors).toEqual([]);
    // It really read the package's declarations (not an `any` fallback for an unresolved module).
    expect(program.getSourceFiles().some((f) => f.fileName.endsWith('imagegpt-webgpu/dist/types/index.d.ts'))).toBe(true);
  });
});
