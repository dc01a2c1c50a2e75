// `npm run bench:gpu`: decode of the full imagegpt-small shape (24 layers, random f16 weights) at batch 1, 8
// and 32, near the start of the cache and near position 1000, measured on the GPU itself (bench/gpu-core.ts).
// Prints a compact table and writes bench/gpu.json.
//   --layers N        transformer blocks (default 24; 2 when the adapter is SwiftShader)
//   --batches 1,8,32  decode batches
//   --steps N         decode steps timed per shape
//   --generate N      tokens per generate() run (0: skip)
//   --unfused         the unfused kernels (tuning foldNorm, fusedKvAppend off, decodeAttention 'splitK': the old fuse: false)
//   --browser         run in Chromium (Playwright) instead of Dawn in Node
//   --out FILE        where the JSON goes (default bench/gpu.json; bench/gpu-browser.json with --browser)
// IMAGEGPT_REAL_GPU=1: Dawn (or Chromium) uses the machine's GPU, and the run fails if the adapter is a CPU one
// (SwiftShader, lavapipe: isCpuAdapter).
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { nodeGpu } from '../scripts/node-webgpu';
import { formatGpuBench, runGpuBench, type GpuBenchOptions, type GpuBenchResult } from './gpu-core';

function parseArgs(args: string[]): { options: GpuBenchOptions; browser: boolean; out: string | null } {
  const value = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`bench:gpu: ${name} needs a value`);
    return v;
  };
  const count = (name: string, min: number): number | undefined => {
    const v = value(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`bench:gpu: ${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  const known = new Set(['--layers', '--batches', '--steps', '--generate', '--unfused', '--browser', '--out']);
  args.forEach((a, i) => {
    if (a.startsWith('--') && !known.has(a)) throw new Error(`bench:gpu: unknown flag ${a} (known: ${[...known].join(' ')})`);
    if (!a.startsWith('--') && !(i > 0 && ['--layers', '--batches', '--steps', '--generate', '--out'].includes(args[i - 1]))) {
      throw new Error(`bench:gpu: unexpected argument ${JSON.stringify(a)}`);
    }
  });
  const batchList = value('--batches');
  const batches = batchList?.split(',').map((b) => {
    const n = Number(b);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bench:gpu: --batches takes positive integers separated by commas, got ${JSON.stringify(batchList)}`);
    return n;
  });
  const options: GpuBenchOptions = {
    layers: count('--layers', 1),
    batches,
    steps: count('--steps', 1),
    generateTokens: count('--generate', 0),
    requireRealGpu: process.env.IMAGEGPT_REAL_GPU === '1',
    tuning: args.includes('--unfused') ? { foldNorm: false, fusedKvAppend: false, decodeAttention: 'splitK' } : undefined,
  };
  return { options, browser: args.includes('--browser'), out: value('--out') ?? null };
}

// The page: only a module script; Vite serves (and transforms) the TypeScript it loads.
const PAGE = '<!doctype html><meta charset="utf-8"><title>bench:gpu</title><script type="module" src="/bench/gpu-browser.ts"></script>';

/** Runs the benchmark in Chromium: a page loading bench/gpu-browser.ts through Vite, driven by Playwright. */
async function inChromium(options: GpuBenchOptions): Promise<GpuBenchResult> {
  // CHROMIUM_PATH (set by scripts/webgpu-env.mjs when it finds one), else Playwright's own Chromium if installed.
  const executablePath = process.env.CHROMIUM_PATH || undefined;
  const { createServer: createVite } = await import('vite');
  const { chromium } = await import('playwright');
  const http = createServer();
  const vite = await createVite({
    configFile: false,
    logLevel: 'error',
    root: process.cwd(),
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  http.on('request', (req, res) => {
    if (req.url === '/' || req.url === '/favicon.ico') {
      res.writeHead(req.url === '/' ? 200 : 204, { 'Content-Type': 'text/html' });
      res.end(req.url === '/' ? PAGE : undefined);
      return;
    }
    vite.middlewares(req, res);
  });
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  const address = http.address();
  if (!address || typeof address === 'string') throw new Error('bench:gpu --browser: the page server has no TCP address');
  // A real GPU in headless Chromium needs its GPU process on the hardware, not the software fallback; the
  // developer features give full-precision timestamps (100 µs quanta otherwise) and the adapter's description.
  const gpuArgs = options.requireRealGpu ? ['--ignore-gpu-blocklist', '--enable-features=Vulkan', '--use-angle=vulkan'] : [];
  let browser: Awaited<ReturnType<typeof chromium.launch>> | null = null;
  try {
    browser = await chromium
      .launch({
        executablePath,
        args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-webgpu-developer-features', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', ...gpuArgs],
      })
      .catch((e: unknown) => {
        throw new Error(`bench:gpu --browser: Chromium did not start (${executablePath ?? "Playwright's own"}); set CHROMIUM_PATH or install Debian's chromium`, { cause: e });
      });
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`[page] ${m.text()}`));
    page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
    await page.goto(`http://127.0.0.1:${address.port}/`);
    await page.waitForFunction(() => 'runImageGptGpuBench' in globalThis, null, { timeout: 120_000 });
    const { log: _log, ...plain } = options;
    void _log;
    return (await page.evaluate(
      (o) => (globalThis as unknown as { runImageGptGpuBench: (o: GpuBenchOptions) => Promise<GpuBenchResult> }).runImageGptGpuBench(o),
      plain,
    )) as GpuBenchResult;
  } finally {
    await browser?.close();
    await vite.close();
    await new Promise<void>((done) => http.close(() => done()));
  }
}

export async function main(args: string[]): Promise<number> {
  const { options, browser, out } = parseArgs(args);
  const log = (line: string) => console.log(line);
  const result = browser ? await inChromium(options) : await runGpuBench(nodeGpu(), { ...options, log });
  const runtime = browser ? 'Chromium (Playwright), navigator.gpu' : `Node ${process.version}, Dawn (npm webgpu)`;
  console.log(`\n${runtime}\n${formatGpuBench(result)}`);
  const file = out ?? (browser ? 'bench/gpu-browser.json' : 'bench/gpu.json');
  writeFileSync(file, JSON.stringify({ runtime, ...result }, null, 2) + '\n');
  console.log(`wrote ${file}`);
  return 0;
}
