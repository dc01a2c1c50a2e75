// The folders' import rules, read from the source: loading and model do not import each other's internals,
// and nothing points back up (gpu/ knows no model or loader; processor/ no GPU, and loading only by its door).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const SRC = join(ROOT, 'src');

/** Every .ts file under src/<folder>, as paths relative to src/. */
function filesIn(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.ts')) out.push(relative(SRC, join(dir, e.name)));
    }
  };
  walk(join(SRC, folder));
  return out.sort();
}

/** The specifiers a file imports or re-exports (static `from '…'`, side-effect `import '…'`, dynamic `import('…')`). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of source.matchAll(re)) found.push(m[1]);
  return found;
}

/** What a file under src/ imports from src/, as paths relative to src/ without extension (e.g. 'loading/index'). */
function srcImports(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return specifiers(text)
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(SRC, resolve(SRC, dirname(file), s)).replace(/\.(ts|js)$/, ''));
}

function violations(folder: string, bad: (target: string) => boolean): string[] {
  return filesIn(folder).flatMap((f) => srcImports(f).filter(bad).map((t) => `${f} → ${t}`));
}

describe('import rules', () => {
  it('finds imports at all (the reader sees both quote styles and re-exports)', () => {
    expect(specifiers(`import a from './x';\nexport { b } from "../y";\nimport './z';\nconst c = await import('./w');`)).toEqual(['./x', '../y', './z', './w']);
    expect(srcImports('model/load.ts')).toContain('loading/index');
    expect(srcImports('loading/index.ts')).toContain('loading/upload');
  });

  it('no file in src/loading imports from src/model', () => {
    expect(filesIn('loading').length).toBeGreaterThan(5);
    expect(violations('loading', (t) => t.startsWith('model/'))).toEqual([]);
  });

  it('src/model reaches src/loading only through its public entry, loading/index', () => {
    expect(violations('model', (t) => t.startsWith('loading/') && t !== 'loading/index')).toEqual([]);
  });

  it('nothing in src/gpu imports src/model or src/loading', () => {
    expect(filesIn('gpu').length).toBeGreaterThan(5);
    expect(violations('gpu', (t) => t.startsWith('model/') || t.startsWith('loading/'))).toEqual([]);
  });

  it('src/processor imports no model or GPU code, and loading only through loading/index', () => {
    expect(violations('processor', (t) => t.startsWith('model/') || t.startsWith('gpu/') || (t.startsWith('loading/') && t !== 'loading/index'))).toEqual([]);
  });

  it('model/tasks are reached only by the ImageGPT façade, and import nothing of it (no callbacks back into the model)', () => {
    expect(filesIn('model/tasks').length).toBeGreaterThan(4);
    const outside = filesIn('model').filter((f) => !f.startsWith('model/tasks/') && f !== 'model/imagegpt.ts');
    expect(outside.flatMap((f) => srcImports(f).filter((t) => t.startsWith('model/tasks/')).map((t) => `${f} → ${t}`))).toEqual([]);
    expect(violations('model/tasks', (t) => t === 'model/imagegpt' || t === 'model/session')).toEqual([]);
  });

  it('training sits beside inference: only the façade imports src/train, and src/train takes only types from src/model', () => {
    expect(filesIn('train').length).toBeGreaterThan(3);
    const users = ['gpu', 'loading', 'processor', 'probe', 'model'].flatMap((folder) => violations(folder, (t) => t.startsWith('train/')));
    expect(users).toEqual(['model/imagegpt.ts → train/trainer']);
    for (const f of filesIn('train')) {
      const text = readFileSync(join(SRC, f), 'utf8');
      const runtime = [...text.matchAll(/^import (?!type )[^;]*from '(\.\.\/model\/[^']+)'/gm)].map((m) => m[1]);
      expect(runtime, f).toEqual([]);
    }
  });

  it('the shared option checks import nothing from the folders that use them', () => {
    expect(srcImports('options.ts').filter((t) => t.includes('/'))).toEqual([]);
  });
});
