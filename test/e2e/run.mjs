#!/usr/bin/env node
// End-to-end tests of the demo in headless Chromium (WebGPU on SwiftShader where there is no GPU): the runner.
// It starts the demo's dev server, a local hub server (test/helpers/hub-server.mjs) and Chromium, runs every case
// of cases/ (one file per thing checked, on one shared page, in the order below), then the package test
// (pack.mjs). Prints one line per case and "N passed, N failed". The page helpers the cases use are in page.mjs.
// usage: node test/e2e/run.mjs [--docs-screenshot] [--only NAME[,NAME…]] [--no-pack]   (the screenshot option rewrites docs/demo.png and docs/demo-phone.png)
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { encodePng, launchChromium, repoRoot, startDemoServer } from './helpers.mjs';
import { HUB_FIXTURES, startHubServer } from '../helpers/hub-server.mjs';
import { assert, canvasPixels, collectErrors, instrument, openDemo, rowsOf, same, setRange, setSampling, unexpected, waitForState } from './page.mjs';

const RESULTS = join(repoRoot, 'test-results');
const MODEL = process.env.E2E_MODEL ?? 'emoji-16';
const MODELS_DIR = process.env.DEMO_MODELS_DIR ?? join(repoRoot, 'models');
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null;
const docsScreenshot = args.includes('--docs-screenshot');
mkdirSync(RESULTS, { recursive: true });

// ---- the cases ----------------------------------------------------------------------------------

/**
 * Case files run in this order, first to last: they share one page, and each starts from where the one before
 * left it (demo-opens.mjs opens it and always runs). Files of cases/ not listed run after these, in name order.
 */
const CASE_ORDER = [
  'demo-opens.mjs',
  'complete-gallery.mjs',
  'complete-varied-kept-rows.mjs',
  'keyboard-tabs-and-drawing.mjs',
  'likelihood-view.mjs',
  'attention-view.mjs',
  'stop-mid-run.mjs',
  'upload-image.mjs',
  'features-gallery.mjs',
  'teach-style.mjs',
  'own-classes-fine-tune.mjs',
  'reload-from-cache.mjs',
  'hub-model-bin.mjs',
  'hub-confirm-and-offline.mjs',
  'local-model-folders.mjs',
  'picker-models-load.mjs',
  'no-webgpu.mjs',
  'static-build.mjs',
];

const cases = [];
const test = (name, fn) => cases.push({ name, fn });
const shared = {};

// What every case file's `register(test, context)` gets: the run's shared state, the page helpers, the settings.
const context = {
  shared, assert, waitForState, setRange, setSampling, canvasPixels, openDemo: (query) => openDemo(shared, query), collectErrors, rowsOf, same,
  unexpected, encodePng, RESULTS, MODEL, MODELS_DIR, HUB_FIXTURES, docsScreenshot, repoRoot,
};
const caseFiles = readdirSync(new URL('./cases/', import.meta.url)).filter((f) => f.endsWith('.mjs'));
for (const file of CASE_ORDER) assert(caseFiles.includes(file), `test/e2e/cases/${file} is in CASE_ORDER but not in test/e2e/cases/`);
const rest = caseFiles.filter((f) => !CASE_ORDER.includes(f)).sort();
for (const file of [...CASE_ORDER, ...rest]) {
  const mod = await import(new URL(`./cases/${file}`, import.meta.url).href);
  mod.register(test, context);
}

// ---- run ----------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  if (!existsSync(join(MODELS_DIR, MODEL, 'model.safetensors'))) {
    console.log(`FAIL setup: ${join(MODELS_DIR, MODEL)} has no model.safetensors (the shipped ${MODEL} model)`);
    console.log('0 passed, 1 failed');
    return 1;
  }
  const server = await startDemoServer();
  const hub = await startHubServer();
  const browser = await launchChromium();
  shared.browser = browser;
  shared.hub = hub;
  const context = await browser.newContext({ viewport: { width: 1180, height: 900 }, deviceScaleFactor: 1 });
  await context.addInitScript(instrument);
  shared.url = server.url;
  shared.page = await context.newPage();
  shared.errors = collectErrors(shared.page);
  shared.notes = [];
  let passed = 0;
  let failed = 0;
  try {
    for (const c of cases) {
      if (only && !only.some((o) => c.name.includes(o)) && c !== cases[0]) continue; // the first case opens the page
      const t0 = Date.now();
      try {
        await c.fn();
        passed++;
        console.log(`ok   ${c.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${c.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n     ${String(e?.message ?? e).split('\n').join('\n     ')}`);
        await shared.page.screenshot({ path: join(RESULTS, `failed-${cases.indexOf(c)}.png`), fullPage: true }).catch(() => {});
      }
    }
  } finally {
    await browser.close();
    await server.close();
    await hub.close();
  }
  for (const note of shared.notes) console.log(`     note: ${note}`);
  if ((!only || only.some((o) => 'package'.includes(o))) && !args.includes('--no-pack')) {
    const t0 = Date.now();
    const pack = spawnSync(process.execPath, [join(repoRoot, 'test/e2e/pack.mjs')], { encoding: 'utf8', env: process.env });
    if (pack.status === 0) {
      passed++;
      console.log(`ok   npm pack installs into a fresh Vite app, which builds (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } else {
      failed++;
      console.log(`FAIL npm pack installs into a fresh Vite app, which builds\n${(pack.stdout + pack.stderr).trim().split('\n').slice(-25).map((l) => '     ' + l).join('\n')}`);
    }
  }
  console.log(`     (${((Date.now() - started) / 1000).toFixed(0)} s in all; screenshots in test-results/)`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exit(await main());
