// Serves the shipped models (repo `models/<id>/`) to the demo: a virtual module lists them, the dev
// server streams their files (with Content-Length, so the page can show download progress), and
// the static build copies them next to the page.
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Plugin, ResolvedConfig } from 'vite';

/** One shipped model as the page sees it (see demo/src/env.d.ts). */
export interface ShippedModel {
  id: string;
  /** Folder relative to the page, ending in '/'. */
  path: string;
  /** Image side in pixels (= tokens per row). */
  imageSize: number;
  nLayer: number;
  nEmbd: number;
  /** Bytes of model.safetensors. */
  weightBytes: number;
  /** Changes when the files change: keys the browser's model cache. */
  version: string;
  /** The model's sampling defaults, from its generation_config.json (chosen by weights-tools/sweep_defaults.py), if it has one. */
  sampling?: SamplingDefaults;
}

/** The Complete view's temperature and top-k (0 = off) for a model. */
export interface SamplingDefaults {
  temperature: number;
  topK: number;
}

/** A model folder's generation_config.json (Hugging Face's file: `temperature`, `top_k`) as sampling defaults. */
export function readSamplingDefaults(path: string): SamplingDefaults | undefined {
  if (!existsSync(path)) return undefined;
  const json = JSON.parse(readFileSync(path, 'utf8')) as { temperature?: unknown; top_k?: unknown };
  const { temperature, top_k: topK } = json;
  if (typeof temperature !== 'number' || !(temperature >= 0 && temperature <= 2)) {
    throw new Error(`${path}: "temperature" is ${JSON.stringify(temperature)}, expected a number from 0 to 2 (the demo's slider)`);
  }
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 0 || topK > 512) {
    throw new Error(`${path}: "top_k" is ${JSON.stringify(topK)}, expected an integer from 0 (off) to 512`);
  }
  return { temperature, topK };
}

const MODEL_FILES = ['config.json', 'model.safetensors', 'preprocessor_config.json'];
const SERVED = /^[a-z0-9_.-]+\.(json|safetensors|md|png)$/i;
const VIRTUAL_ID = 'virtual:shipped-models';
const RESOLVED_ID = '\0' + VIRTUAL_ID;

function imageSizeOf(preprocessor: { size?: number | { height?: number; width?: number } }, positions: number): number {
  const s = preprocessor.size;
  if (typeof s === 'number') return s;
  if (s && typeof s.width === 'number') return s.width;
  return Math.round(Math.sqrt(positions));
}

/** Folders of `modelsDir` holding a complete model, sorted by name. */
export function listShippedModels(modelsDir: string): ShippedModel[] {
  if (!existsSync(modelsDir)) return [];
  const models: ShippedModel[] = [];
  for (const id of readdirSync(modelsDir).sort()) {
    const dir = join(modelsDir, id);
    if (!statSync(dir).isDirectory() || !MODEL_FILES.every((f) => existsSync(join(dir, f)))) continue;
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { n_layer: number; n_embd: number; n_positions: number };
    const preprocessor = JSON.parse(readFileSync(join(dir, 'preprocessor_config.json'), 'utf8')) as Parameters<typeof imageSizeOf>[0];
    const stats = MODEL_FILES.map((f) => statSync(join(dir, f)));
    models.push({
      id,
      path: `models/${id}/`,
      imageSize: imageSizeOf(preprocessor, config.n_positions),
      nLayer: config.n_layer,
      nEmbd: config.n_embd,
      weightBytes: stats[1].size,
      version: stats.map((s) => `${s.size}-${Math.round(s.mtimeMs)}`).join('.'),
      sampling: readSamplingDefaults(join(dir, 'generation_config.json')),
    });
  }
  return models;
}

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  safetensors: 'application/octet-stream',
  md: 'text/markdown; charset=utf-8',
  png: 'image/png',
};

export function shippedModels(modelsDir: string): Plugin {
  let config: ResolvedConfig;
  return {
    name: 'imagegpt-shipped-models',
    configResolved(c) {
      config = c;
    },
    resolveId(id) {
      return id === VIRTUAL_ID ? RESOLVED_ID : null;
    },
    load(id) {
      if (id !== RESOLVED_ID) return null;
      for (const m of listShippedModels(modelsDir)) {
        this.addWatchFile(join(modelsDir, m.id, 'config.json'));
        this.addWatchFile(join(modelsDir, m.id, 'generation_config.json'));
      }
      return `export default ${JSON.stringify(listShippedModels(modelsDir))};`;
    },
    configureServer(server) {
      server.middlewares.use('/models', (req, res) => {
        const path = decodeURIComponent((req.url ?? '').split('?')[0]);
        const parts = path.split('/').filter(Boolean);
        const file = parts.length === 2 && SERVED.test(parts[1]) && !parts[0].startsWith('.') ? resolve(modelsDir, parts[0], parts[1]) : null;
        if (!file || !file.startsWith(resolve(modelsDir)) || !existsSync(file)) {
          // A 404, not the page: a missing model file must read as missing, not as HTML that fails to parse.
          res.statusCode = 404;
          res.setHeader('Content-Type', 'text/plain; charset=utf-8');
          return void res.end(`no such model file: models${path}`);
        }
        const size = statSync(file).size;
        res.setHeader('Content-Type', CONTENT_TYPES[parts[1].split('.').pop()!.toLowerCase()]);
        res.setHeader('Content-Length', String(size));
        res.setHeader('Cache-Control', 'no-cache');
        if (req.method === 'HEAD') return void res.end();
        createReadStream(file).pipe(res);
      });
    },
    async writeBundle() {
      const out = resolve(config.root, config.build.outDir, 'models');
      for (const m of listShippedModels(modelsDir)) {
        await mkdir(join(out, m.id), { recursive: true });
        for (const f of readdirSync(join(modelsDir, m.id)).filter((name) => SERVED.test(name))) {
          await cp(join(modelsDir, m.id, f), join(out, m.id, f));
        }
      }
    },
  };
}
