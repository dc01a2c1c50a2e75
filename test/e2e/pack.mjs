#!/usr/bin/env node
// The package as users get it: `npm pack` (its `prepare` script builds dist/, as a git install does), install the
// tarball into a fresh Vite app (offline: its runtime dependencies are packed from this repo's node_modules; Vite comes from this repo), build the app from the two
// embedding examples (examples/minimal, examples/worker), then open both in Chromium and let them
// complete an image with the shipped 16×16 model.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { freePort, launchChromium, repoRoot } from './helpers.mjs';

const MODEL_DIR = join(process.env.DEMO_MODELS_DIR ?? join(repoRoot, 'models'), 'emoji-16');
const EXAMPLES = ['minimal', 'worker'];

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${(r.stdout + r.stderr).trim().split('\n').slice(-30).join('\n')}`);
  return r.stdout;
}

function step(name, t0) {
  console.log(`${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

async function openExample(browser, url) {
  const page = await browser.newPage();
  const errors = [];
  // The examples have no favicon; the browser's request for one is not theirs.
  page.on('console', (m) => m.type() === 'error' && !m.location().url.endsWith('/favicon.ico') && errors.push(`${m.text()} ${m.location().url}`));
  page.on('pageerror', (e) => errors.push(e.message));
  // Every status line the page shows while it loads: progress must never read Infinity, NaN or past 100 %.
  await page.addInitScript(() => {
    window.__statuses = [];
    new MutationObserver(() => {
      const text = document.getElementById('status')?.textContent;
      if (text && window.__statuses.at(-1) !== text) window.__statuses.push(text);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  try {
    await page.goto(url);
    await page
      .waitForFunction(() => /^(Done|Error)/.test(document.getElementById('status').textContent), null, { timeout: 120_000, polling: 200 })
      .catch(async (e) => {
        const status = await page.textContent('#status').catch(() => '?');
        throw new Error(`${url}: still "${status}" after 120 s${errors.length ? `; console errors:\n${errors.join('\n')}` : ''} (${e.message})`);
      });
    const status = await page.textContent('#status');
    const canvases = await page.$$eval('#out canvas', (cs) => cs.map((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let opaque = 0;
      for (let i = 3; i < d.length; i += 4) opaque += d[i] === 255 ? 1 : 0;
      return { width: c.width, height: c.height, opaque };
    }));
    if (!status.startsWith('Done')) throw new Error(`${url}: ${status}`);
    const statuses = await page.evaluate(() => window.__statuses);
    const absurd = statuses.filter((t) => /Infinity|NaN|undefined|\b(10[1-9]|1[1-9]\d|[2-9]\d\d|\d{4,}) %/.test(t));
    if (absurd.length) throw new Error(`${url}: the progress said ${JSON.stringify(absurd.slice(0, 3))}`);
    if (!statuses.some((t) => /^(download|cached|upload) model\.safetensors: \d+ %$/.test(t))) {
      throw new Error(`${url}: no load progress was shown; the status lines: ${JSON.stringify(statuses.slice(0, 8))}`);
    }
    if (canvases.length !== 4 || canvases.some((c) => c.width !== 16 || c.opaque !== 256)) {
      throw new Error(`${url}: expected 4 filled 16×16 completions, got ${JSON.stringify(canvases)}`);
    }
    if (errors.length) throw new Error(`${url}: console errors:\n${errors.join('\n')}`);
  } finally {
    await page.close();
  }
}

async function main() {
  const t0 = Date.now();
  if (!existsSync(join(MODEL_DIR, 'model.safetensors'))) throw new Error(`${MODEL_DIR} has no model.safetensors`);
  const tmp = mkdtempSync(join(tmpdir(), 'imagegpt-pack-'));
  try {
    // No separate build: `npm pack` runs `prepare`, so this also checks that a pack (and a git install) builds dist/.
    rmSync(join(repoRoot, 'dist'), { recursive: true, force: true });
    const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], repoRoot));
    const files = packed.files.map((f) => f.path);
    for (const needed of ['dist/imagegpt-webgpu.js', 'dist/types/index.d.ts', 'package.json']) {
      if (!files.includes(needed)) throw new Error(`the tarball lacks ${needed}; it holds ${files.join(', ')}`);
    }
    step(`packed ${packed.filename} (${files.length} files, ${(packed.size / 1024).toFixed(0)} KB)`, t0);

    const app = join(tmp, 'app');
    mkdirSync(app);
    // The package's runtime dependencies, packed from this repo's node_modules so the install needs no network.
    const deps = {};
    for (const dep of Object.keys(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).dependencies ?? {})) {
      const [depPacked] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], join(repoRoot, 'node_modules', dep)));
      deps[dep] = `file:../${depPacked.filename}`;
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module', dependencies: { 'imagegpt-webgpu': `file:../${packed.filename}`, ...deps } }, null, 2));
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/imagegpt-webgpu/package.json'), 'utf8'));
    step(`installed imagegpt-webgpu ${installed.version} offline`, t0);

    const emoji = join(repoRoot, 'demo/public/gallery/twitter-1f41f.png');
    for (const name of EXAMPLES) {
      cpSync(join(repoRoot, 'examples', name), join(app, name), { recursive: true });
      cpSync(emoji, join(app, name, 'emoji.png'));
      for (const f of ['config.json', 'model.safetensors', 'preprocessor_config.json']) {
        cpSync(join(MODEL_DIR, f), join(app, 'public', name, 'models/emoji-16', f));
      }
    }
    const { build, preview } = await import('vite');
    const outDir = join(app, 'dist');
    const input = Object.fromEntries(EXAMPLES.map((n) => [n, join(app, n, 'index.html')]));
    await build({ root: app, configFile: false, logLevel: 'warn', worker: { format: 'es' }, build: { outDir, rollupOptions: { input } } });
    const assets = readdirSync(join(outDir, 'assets'));
    const code = assets.filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(outDir, 'assets', f), 'utf8')).join('\n');
    if (!code.includes('unpack2x16float')) throw new Error('the built app does not hold the library WGSL kernels');
    if (!assets.some((f) => f.startsWith('worker'))) throw new Error(`no worker chunk in the built app: ${assets.join(', ')}`);
    step(`fresh Vite app built (${assets.length} assets)`, t0);

    const port = await freePort();
    const server = await preview({ root: app, configFile: false, logLevel: 'error', build: { outDir }, preview: { port, strictPort: true, host: '127.0.0.1' } });
    const browser = await launchChromium();
    try {
      for (const name of EXAMPLES) {
        await openExample(browser, `http://127.0.0.1:${port}/${name}/`);
        step(`examples/${name} completed an image in Chromium`, t0);
      }
    } finally {
      await browser.close();
      await new Promise((resolve) => server.httpServer.close(resolve));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
