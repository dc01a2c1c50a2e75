#!/usr/bin/env node
// End-to-end tests of the demo in headless Chromium (WebGPU on SwiftShader where there is no GPU):
// the worker loads the shipped 16×16 model, completes gallery and uploaded images, stops and restarts,
// scores the Likelihood view, runs the Features view, reopens from the cache, loads a pytorch_model.bin hub model from a local hub
// server (test/helpers/hub-server.mjs) and completes with it, asks before a large download, says when the
// hub is unreachable and retries, loads local folders, says plainly when WebGPU is missing; then the
// package test (pack.mjs). Prints one line per case and "N passed, N failed".
// usage: node test/e2e/run.mjs [--docs-screenshot] [--only NAME[,NAME…]] [--no-pack]   (the screenshot option rewrites docs/demo.png and docs/demo-phone.png)
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { encodePng, freePort, launchChromium, repoRoot, startDemoServer } from './helpers.mjs';
import { HUB_FIXTURES, startHubServer } from '../helpers/hub-server.mjs';

const RESULTS = join(repoRoot, 'test-results');
const MODEL = process.env.E2E_MODEL ?? 'emoji-16';
/** Rows kept when completing (of 16): fewer generated rows keep the run short on SwiftShader (the README picture keeps half). */
const KEEP = process.argv.includes('--docs-screenshot') ? 8 : 11;
const SAMPLES = process.argv.includes('--docs-screenshot') ? 4 : 3;
const MODELS_DIR = process.env.DEMO_MODELS_DIR ?? join(repoRoot, 'models');
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null;
const docsScreenshot = args.includes('--docs-screenshot');
mkdirSync(RESULTS, { recursive: true });

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// ---- page helpers -------------------------------------------------------------------------------

/** Counts WebGPU device requests on the page's main thread and the longest gap between its timer ticks. */
function instrument() {
  window.__e2e = { requestDevice: 0, maxGap: 0, last: performance.now() };
  if (typeof GPUAdapter !== 'undefined') {
    const original = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = function (...a) {
      window.__e2e.requestDevice++;
      return original.apply(this, a);
    };
  }
  setInterval(() => {
    const now = performance.now();
    window.__e2e.maxGap = Math.max(window.__e2e.maxGap, now - window.__e2e.last);
    window.__e2e.last = now;
  }, 25);
}

async function canvasPixels(page, selector) {
  return page.evaluate((sel) => {
    return [...document.querySelectorAll(sel)].map((canvas) => {
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      return { width: canvas.width, height: canvas.height, data: Array.from(data) };
    });
  }, selector);
}

const STATUS = { model: '#load-text', run: '#gen-text', features: '#features-text' };

/** Waits until document.body.dataset[key] is one of `values`; a timeout names the page's status line. */
async function waitForState(page, key, values, timeout) {
  const wanted = Array.isArray(values) ? values : [values];
  try {
    await page.waitForFunction(([k, v]) => v.includes(document.body.dataset[k]), [key, wanted], { timeout, polling: 100 });
  } catch (e) {
    const status = await page.textContent(STATUS[key]).catch(() => '?');
    throw new Error(`waited ${timeout / 1000} s for ${key} to be ${wanted.join(' or ')}; the page says: ${status}`);
  }
  return page.evaluate((k) => document.body.dataset[k], key);
}

async function setRange(page, selector, value) {
  await page.$eval(selector, (el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

async function setSampling(page, { keepRows, samples, seed }) {
  if (keepRows !== undefined) await setRange(page, '#keep-rows', keepRows);
  if (samples !== undefined) await setRange(page, '#samples-count', samples);
  if (seed !== undefined) {
    await page.fill('#seed', String(seed));
    await page.setChecked('#vary-seed', false);
  }
}

function rowsOf(image, from, to) {
  return image.data.slice(from * image.width * 4, to * image.width * 4);
}

function same(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Console errors and uncaught exceptions of a page and its workers. */
function collectErrors(page) {
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && errors.push(`worker console: ${m.text()}`)));
  return errors;
}

// ---- the cases ----------------------------------------------------------------------------------

const cases = [];
const test = (name, fn) => cases.push({ name, fn });
const shared = {};

test('the demo opens and loads the 16×16 model in its worker', async () => {
  const page = shared.page;
  await page.goto(shared.url);
  const state = await waitForState(page, 'model', ['ready', 'error', 'no-webgpu'], 60_000);
  assert(state === 'ready', `model state ${state}: ${await page.textContent('#load-text')}`);
  const text = await page.textContent('#load-text');
  assert(text.includes(MODEL) && text.includes('16×16'), `load status: ${text}`);
  const workers = page.workers().map((w) => w.url());
  assert(workers.some((u) => u.includes('worker')), `expected the model worker, page workers: ${JSON.stringify(workers)}`);
  // Asked from Node: the browser would log the 404 as a console error.
  const missing = (await fetch(new URL(`models/${MODEL}/missing.json`, shared.url))).status;
  assert(missing === 404, `a missing model file answers ${missing}, not 404`);
  const calls = await page.evaluate(() => window.__e2e.requestDevice);
  assert(calls === 0, `the page's main thread requested ${calls} WebGPU device(s): the model must run in the worker`);
});

test('completes a gallery image: kept rows exact, new rows filled, samples differ, page responsive', async () => {
  const page = shared.page;
  // The README picture shows a face, which completes more recognizably than the fish the test uses.
  await page.click(docsScreenshot ? '#gallery button[title^="slightly smiling face"]' : '#gallery button:nth-child(2)');
  await page.waitForFunction(() => document.querySelector('#quantized').width === 16, null, { timeout: 10_000 });
  await setSampling(page, { keepRows: KEEP, samples: SAMPLES, seed: 1234 });
  const [quantized] = await canvasPixels(page, '#quantized');
  await page.evaluate(() => {
    window.__e2e.maxGap = 0;
    window.__e2e.last = performance.now();
  });
  await page.click('#complete');
  const state = await waitForState(page, 'run', ['done', 'error', 'stopped'], 90_000);
  assert(state === 'done', `run state ${state}: ${await page.textContent('#gen-text')}`);
  const samples = await canvasPixels(page, '#samples canvas');
  assert(samples.length === SAMPLES, `expected ${SAMPLES} sample canvases, got ${samples.length}`);
  const kept = rowsOf(quantized, 0, KEEP);
  for (const [b, s] of samples.entries()) {
    assert(s.width === 16 && s.height === 16, `sample ${b} is ${s.width}×${s.height}`);
    assert(same(rowsOf(s, 0, KEEP), kept), `sample ${b}: the kept rows differ from the quantized input`);
    const generated = rowsOf(s, KEEP, 16);
    for (let i = 3; i < generated.length; i += 4) assert(generated[i] === 255, `sample ${b}: pixel ${(i - 3) / 4} of the generated rows is not filled`);
  }
  for (let a = 0; a < samples.length; a++) {
    for (let b = a + 1; b < samples.length; b++) {
      assert(!same(rowsOf(samples[a], KEEP, 16), rowsOf(samples[b], KEEP, 16)), `samples ${a} and ${b} have identical generated rows`);
    }
  }
  const text = await page.textContent('#gen-text');
  assert(/tokens\/s/.test(text), `status after the run: ${text}`);
  const gap = await page.evaluate(() => window.__e2e.maxGap);
  shared.notes.push(`longest main-thread stall during generation ${gap.toFixed(0)} ms; ${text}`);
  assert(gap < 2000, `the page's main thread stalled ${gap.toFixed(0)} ms during generation`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#samples figure:first-child button')]);
  const png = readFileSync(await download.path());
  assert(png.subarray(1, 4).toString() === 'PNG' && png.readUInt32BE(16) === 256 && png.readUInt32BE(20) === 256,
    `the saved sample is not a 256×256 PNG (${download.suggestedFilename()})`);
  assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
  await page.screenshot({ path: join(RESULTS, 'complete.png'), fullPage: true });
  if (docsScreenshot) {
    mkdirSync(join(repoRoot, 'docs'), { recursive: true });
    // In page coordinates: saving a sample above may have scrolled the page.
    const bottom = await page.evaluate(() => document.querySelector('#samples').getBoundingClientRect().bottom + window.scrollY);
    await page.screenshot({ path: join(repoRoot, 'docs/demo.png'), fullPage: true, clip: { x: 0, y: 0, width: 1180, height: Math.ceil(bottom + 24) } });
  }
});

test('varied kept rows: sample i keeps i fewer rows, one batch, each labelled; kept rows exact, the rest filled', async () => {
  const page = shared.page;
  await page.click('#gallery button:nth-child(2)');
  await page.waitForFunction(() => document.querySelector('#quantized').width === 16, null, { timeout: 10_000 });
  const keep = 14; // samples keep 14, 13, 12 rows: at most 4 rows to generate, short on SwiftShader
  await setSampling(page, { keepRows: keep, samples: 3, seed: 99 });
  await page.setChecked('#vary-kept', true);
  const [quantized] = await canvasPixels(page, '#quantized');
  try {
    await page.click('#complete');
    const state = await waitForState(page, 'run', ['done', 'error', 'stopped'], 60_000);
    assert(state === 'done', `run state ${state}: ${await page.textContent('#gen-text')}`);
    const samples = await canvasPixels(page, '#samples canvas');
    const captions = await page.$$eval('#samples figcaption', (fs) => fs.map((f) => f.textContent));
    assert(samples.length === 3, `expected 3 sample canvases, got ${samples.length}`);
    await page.screenshot({ path: join(RESULTS, 'complete-varied.png'), fullPage: true });
    for (const [b, s] of samples.entries()) {
      const k = keep - b;
      assert(captions[b].includes(`${k} rows kept`), `sample ${b}'s caption does not say ${k} rows kept: ${captions[b]}`);
      assert(same(rowsOf(s, 0, k), rowsOf(quantized, 0, k)), `sample ${b}: its ${k} kept rows differ from the quantized input`);
      const generated = rowsOf(s, k, 16);
      for (let i = 3; i < generated.length; i += 4) assert(generated[i] === 255, `sample ${b}: pixel ${(i - 3) / 4} of the generated rows is not filled`);
    }
    assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
  } finally {
    await page.setChecked('#vary-kept', false);
  }
});

test('keyboard: arrow keys switch tabs, Enter picks a gallery image; a drawing becomes the prompt', async () => {
  const page = shared.page;
  await page.focus('#tab-complete');
  await page.keyboard.press('ArrowRight');
  assert((await page.getAttribute('#tab-features', 'aria-selected')) === 'true' && (await page.isVisible('#view-features')), 'ArrowRight did not open Features');
  await page.keyboard.press('ArrowLeft');
  assert(await page.isVisible('#view-complete'), 'ArrowLeft did not come back to Complete');
  await page.focus('#gallery button:nth-child(5)');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#gallery button:nth-child(5)').getAttribute('aria-selected') === 'true', null, { timeout: 5_000 });
  await page.focus('#src-tab-gallery');
  await page.keyboard.press('End');
  assert(await page.isVisible('#draw-canvas'), 'End did not open the Draw tab');
  await page.click('#draw-clear');
  await page.fill('#draw-color', '#d01010');
  const box = await page.locator('#draw-canvas').boundingBox();
  await page.mouse.move(box.x + 20, box.y + box.height * 0.25);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width - 20, box.y + box.height * 0.25, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(() => document.querySelector('#original').width === 256, null, { timeout: 10_000 });
  await page.waitForFunction(() => {
    const c = document.querySelector('#quantized');
    const d = c.getContext('2d').getImageData(8, 4, 1, 1).data; // a pixel on the stroke, in a kept row
    return d[0] > 150 && d[1] < 90 && d[3] === 255;
  }, null, { timeout: 10_000 });
  await page.click('#src-tab-gallery');
  await page.click('#gallery button:nth-child(2)');
});

test('likelihood view: bits per token and surprise maps of the original and of each completion', async () => {
  const page = shared.page;
  await page.click('#tab-complete');
  await page.click('#src-tab-gallery');
  const [before] = await canvasPixels(page, '#quantized');
  await page.click('#gallery button:nth-child(3)');
  // The new prompt is encoded once its quantized pixels are drawn.
  await page.waitForFunction((old) => {
    const c = document.querySelector('#quantized');
    return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).some((v, i) => v !== old[i]);
  }, before.data, { timeout: 10_000 });
  // Opened by keyboard: End selects the last tab (Attention), ArrowLeft the one before it.
  await page.focus('#tab-complete');
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowLeft');
  assert((await page.getAttribute('#tab-likelihood', 'aria-selected')) === 'true' && (await page.isVisible('#view-likelihood')), 'End, ArrowLeft did not open Likelihood');
  const read = async (count) => {
    await page.waitForFunction((n) => document.body.dataset.likelihood === 'done' && document.querySelectorAll('.likelihood-entry').length === n, count, { timeout: 30_000, polling: 100 })
      .catch(async () => { throw new Error(`waited for ${count} likelihood entries; the page says: ${await page.textContent('#likelihood-text')}`); });
    return page.evaluate(() => [...document.querySelectorAll('.likelihood-entry')].map((figure) => {
      const heat = figure.querySelector('canvas.heat');
      const { data } = heat.getContext('2d').getImageData(0, 0, heat.width, heat.height);
      const colors = new Set();
      for (let i = 0; i < data.length; i += 4) colors.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
      return { bits: Number(figure.dataset.bits), text: figure.querySelector('.bits').textContent, label: heat.getAttribute('aria-label'), tab: heat.tabIndex, width: heat.width, colors: colors.size };
    }));
  };
  const check = (entries) => {
    for (const e of entries) {
      assert(Number.isFinite(e.bits) && e.bits > 0 && e.bits < 16, `bits per token ${e.bits} (${e.text})`);
      assert(/bits per token/.test(e.text), `caption: ${e.text}`);
      assert(e.width === 16 && e.colors > 3, `the heat map is ${e.width} wide with ${e.colors} colors: not drawn`);
      assert(/mean [\d.]+ bits per pixel; most surprising pixel at row \d+, column \d+/.test(e.label) && e.tab === 0, `heat map text alternative: ${e.label}`);
    }
  };
  const original = await read(1);
  check(original);
  const legend = await page.textContent('#likelihood-legend-max');
  assert(/^[\d.]+ bits$/.test(legend), `legend top: ${legend}`);
  // At phone width nothing scrolls sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.screenshot({ path: join(RESULTS, 'likelihood-390.png'), fullPage: true });
  await page.setViewportSize({ width: 1180, height: 900 });
  assert(overflow <= 0, `at 390 px the page scrolls ${overflow} px sideways`);
  // One short completion: the view shows the original and one entry per sample.
  await page.click('#tab-complete');
  await setSampling(page, { keepRows: 14, samples: 2, seed: 11 });
  await page.click('#complete');
  const state = await waitForState(page, 'run', ['done', 'error', 'stopped'], 90_000);
  assert(state === 'done', `run state ${state}: ${await page.textContent('#gen-text')}`);
  await page.click('#tab-likelihood');
  const all = await read(3);
  check(all);
  assert(Math.abs(all[0].bits - original[0].bits) < 1e-3, `the original scored ${original[0].bits} alone, ${all[0].bits} with its completions`);
  assert(/Completion #1/.test(all[1].label) && /Completion #2/.test(all[2].label), `entries: ${all.map((e) => e.label).join(' | ')}`);
  shared.notes.push(`likelihood: ${all.map((e) => e.text).join(', ')}; ${await page.textContent('#likelihood-text')}`);
  await page.screenshot({ path: join(RESULTS, 'likelihood.png'), fullPage: true });
  assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
  await page.click('#tab-complete');
});

test('attention view: each head’s weights over earlier pixels for a clicked pixel, per layer', async () => {
  const page = shared.page;
  const t0 = Date.now();
  await page.click('#tab-complete');
  await page.click('#src-tab-gallery');
  const [before] = await canvasPixels(page, '#quantized');
  await page.click('#gallery button:nth-child(4)');
  await page.waitForFunction((old) => {
    const c = document.querySelector('#quantized');
    return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).some((v, i) => v !== old[i]);
  }, before.data, { timeout: 10_000 });
  await page.click('#tab-attention');
  await page.waitForFunction(() => document.body.dataset.attention === 'pick', null, { timeout: 5_000 });
  const done = async () => {
    await page.waitForFunction(() => document.body.dataset.attention === 'done' || document.body.dataset.attention === 'error', null, { timeout: 30_000, polling: 100 });
    const state = await page.evaluate(() => document.body.dataset.attention);
    assert(state === 'done', `attention ${state}: ${await page.textContent('#attention-text')}`);
  };
  const read = () => page.evaluate(() => [...document.querySelectorAll('.attention-head')].map((figure) => {
    const canvas = figure.querySelector('canvas');
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    const colors = new Set();
    let blank = 0;
    for (let i = 0; i < data.length; i += 4) {
      colors.add(`${data[i]},${data[i + 1]},${data[i + 2]},${data[i + 3]}`);
      if (data[i + 3] === 0) blank++;
    }
    return { sum: Number(figure.dataset.sum), max: Number(figure.dataset.max), label: canvas.getAttribute('aria-label'), tab: canvas.tabIndex, width: canvas.width, colors: colors.size, blank, pixels: Array.from(data) };
  }));
  const check = (heads, query, layer) => {
    assert(heads.length === 4, `expected 4 head maps (emoji-16 has 4 heads), got ${heads.length}`);
    for (const [h, e] of heads.entries()) {
      assert(Math.abs(e.sum - 1) < 1e-3, `head ${h + 1}: the weights sum to ${e.sum}, not 1`);
      assert(e.width === 16 && e.colors > 3 && e.max > 0, `head ${h + 1}: a ${e.width}-wide map of ${e.colors} colors, top weight ${e.max}: not drawn`);
      assert(e.blank === 256 - query - 1, `head ${h + 1}: ${e.blank} blank pixels, expected the ${256 - query - 1} after the query`);
      assert(new RegExp(`^Head ${h + 1}, layer ${layer}: start token [\\d.]+; most attended pixels: row \\d+, column \\d+ \\([\\d.]+\\)(; row \\d+, column \\d+ \\([\\d.]+\\)){2}$`).test(e.label) && e.tab === 0,
        `head ${h + 1}'s text alternative: ${e.label}`);
    }
  };
  // Click the middle pixel (row 9, column 9 counted from 1): the middle layer (2 of 4) is shown.
  const box = await page.locator('#attention-image').boundingBox();
  await page.mouse.click(box.x + box.width * (8.5 / 16), box.y + box.height * (8.5 / 16));
  await done();
  assert(/row 9, column 9/.test(await page.textContent('#attention-query')), `query: ${await page.textContent('#attention-query')}`);
  assert((await page.inputValue('#attention-layer')) === '1', `default layer ${await page.inputValue('#attention-layer')}, expected the middle one (index 1 of 4)`);
  const middle = await read();
  check(middle, 8 * 16 + 8, 2);
  const computed = await page.textContent('#attention-text');
  // Another layer: redrawn from the same row (no new computation), and different maps.
  await page.selectOption('#attention-layer', '3');
  await page.waitForFunction(() => document.querySelector('#attention-heads').dataset.layer === '3', null, { timeout: 5_000 });
  const last = await read();
  check(last, 8 * 16 + 8, 4);
  assert(await page.evaluate(() => document.body.dataset.attention) === 'done' && (await page.textContent('#attention-text')) === computed, 'changing the layer computed the row again');
  assert(last.some((e, h) => !same(e.pixels, middle[h].pixels)), 'layers 2 and 4 draw identical maps');
  await page.screenshot({ path: join(RESULTS, 'attention.png'), fullPage: true });
  // Keyboard: the cursor moves one pixel left, Enter picks it (a new query is computed).
  await page.focus('#attention-image');
  await page.keyboard.press('ArrowLeft');
  assert(await page.isVisible('#attention-cursor') && /Cursor at row 9, column 8/.test(await page.textContent('#attention-query')), `cursor: ${await page.textContent('#attention-query')}`);
  await page.keyboard.press('Enter');
  await done();
  check(await read(), 8 * 16 + 7, 4);
  assert(/query pixel row 9, column 8/i.test(await page.textContent('#attention-query')), `query after Enter: ${await page.textContent('#attention-query')}`);
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.screenshot({ path: join(RESULTS, 'attention-390.png'), fullPage: true });
  await page.setViewportSize({ width: 1180, height: 900 });
  assert(overflow <= 0, `at 390 px the page scrolls ${overflow} px sideways`);
  shared.notes.push(`attention: ${computed} (whole case ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
  await page.click('#tab-complete');
});

test('Stop ends a generation mid-way, and the next one runs to the end', async () => {
  const page = shared.page;
  await setSampling(page, { samples: 8, seed: 7 });
  await page.click('#unconditional');
  await page.waitForFunction(() => /^Row (\d+)/.test(document.querySelector('#gen-text').textContent), null, { timeout: 60_000, polling: 20 });
  await page.click('#stop');
  const state = await waitForState(page, 'run', ['done', 'error', 'stopped'], 30_000);
  assert(state === 'stopped', `after Stop the run state is ${state}: ${await page.textContent('#gen-text')}`);
  const partial = await canvasPixels(page, '#samples canvas');
  const lastRowAlpha = partial[0].data.slice(15 * 16 * 4).filter((_, i) => i % 4 === 3);
  assert(lastRowAlpha.every((a) => a === 0), 'the stopped run filled the last row: it was not stopped mid-way');
  assert(!(await page.isDisabled('#complete')), 'Complete stays disabled after Stop');
  // The partial samples save like finished ones, named as partial.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#samples figure:first-child button')]);
  const png = readFileSync(await download.path());
  assert(png.subarray(1, 4).toString() === 'PNG' && /-partial\.png$/.test(download.suggestedFilename()), `the partial sample saved as ${download.suggestedFilename()}`);
  await setSampling(page, { samples: 2, keepRows: 14 });
  await page.click('#complete');
  const again = await waitForState(page, 'run', ['done', 'error', 'stopped'], 90_000);
  assert(again === 'done', `the run after Stop ended ${again}: ${await page.textContent('#gen-text')}`);
});

test('an image uploaded through the file input is quantized and completed', async () => {
  const page = shared.page;
  // 24×20 (not square), with transparency: a red disc on a blue gradient, half see-through at the bottom.
  const png = encodePng(24, 20, (x, y) => ((x - 12) ** 2 + (y - 9) ** 2 < 36 ? [220, 30, 30, 255] : [20, 40, 10 * y, y > 14 ? 128 : 255]));
  await page.click('#src-tab-upload');
  await page.setInputFiles('#file-input', { name: 'disc.png', mimeType: 'image/png', buffer: png });
  await page.waitForFunction(() => document.querySelector('#original').width === 24, null, { timeout: 10_000 });
  const [original] = await canvasPixels(page, '#original');
  assert(original.height === 20, `original shown at ${original.width}×${original.height}`);
  const center = (9 * 24 + 12) * 4;
  assert(original.data[center] === 220 && original.data[center + 1] === 30, 'the uploaded pixels are not what was shown');
  await setSampling(page, { keepRows: 14, samples: 1, seed: 3 });
  const [quantized] = await canvasPixels(page, '#quantized');
  const mid = (5 * 16 + 8) * 4; // inside the disc
  assert(quantized.data[mid] > 150 && quantized.data[mid + 1] < 100, `quantized disc pixel is rgb(${quantized.data.slice(mid, mid + 3)})`);
  await page.click('#complete');
  const state = await waitForState(page, 'run', ['done', 'error', 'stopped'], 90_000);
  assert(state === 'done', `run state ${state}: ${await page.textContent('#gen-text')}`);
  const [sample] = await canvasPixels(page, '#samples canvas');
  assert(same(rowsOf(sample, 0, 14), rowsOf(quantized, 0, 14)), 'the kept rows of the uploaded image changed');
});

/** A smaller gallery for the Features view (its GPU work scales with the images): `perClass` of each of `classes` categories. */
function smallGallery(classes, perClass) {
  const all = JSON.parse(readFileSync(join(repoRoot, 'demo/public/gallery/gallery.json'), 'utf8'));
  const byClass = new Map();
  for (const item of all) byClass.set(item.category, [...(byClass.get(item.category) ?? []), item]);
  return [...byClass.values()].filter((items) => items.length >= perClass).slice(0, classes).flatMap((items) => items.slice(0, perClass));
}

test('the Features view extracts gallery features, plots accuracy per layer, confusion matrix, neighbours', async () => {
  const gallery = smallGallery(3, 4);
  const page = await shared.page.context().newPage();
  const errors = collectErrors(page);
  try {
    await page.route('**/gallery/gallery.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(gallery) }));
    await page.goto(shared.url);
    const loaded = await waitForState(page, 'model', ['ready', 'error'], 60_000);
    assert(loaded === 'ready', `model state ${loaded}`);
    await page.click('#tab-features');
    await page.click('#extract');
    const state = await waitForState(page, 'features', ['done', 'error'], 150_000);
    assert(state === 'done', `features state ${state}: ${await page.textContent('#features-text')}`);
    const info = await page.evaluate(() => ({
      points: document.querySelectorAll('#accuracy-chart circle').length,
      layers: document.querySelectorAll('#layer-select option').length,
      rows: document.querySelectorAll('#confusion tbody tr').length,
      total: [...document.querySelectorAll('#confusion td')].reduce((s, td) => s + Number(td.textContent || 0), 0),
      text: document.querySelector('#features-text').textContent,
    }));
    assert(info.points === info.layers && info.layers === 5, `chart has ${info.points} points for ${info.layers} layers (expected 5)`);
    assert(info.rows === 3, `confusion matrix has ${info.rows} rows for 3 categories`);
    assert(info.total === gallery.length, `confusion matrix counts ${info.total} images of ${gallery.length}`);
    shared.notes.push(`features (${gallery.length} images): ${info.text}`);
    await page.selectOption('#layer-select', '1');
    await page.click('#nn-gallery button:nth-child(3)');
    const neighbours = await page.$$eval('#nn-results li', (lis) => lis.map((li) => li.textContent));
    assert(neighbours.length === 8, `expected 8 nearest neighbours, got ${neighbours.length}`);
    const sims = neighbours.map((t) => Number(t.split(' ')[0]));
    assert(sims.every((v, i) => Number.isFinite(v) && v <= 1 && (i === 0 || v <= sims[i - 1])), `similarities not sorted: ${sims}`);
    await page.screenshot({ path: join(RESULTS, 'features.png'), fullPage: true });
    assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
  } finally {
    await page.close();
  }
});

test('a reload opens the model from the Cache Storage', async () => {
  const page = shared.page;
  await page.reload();
  const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
  assert(state === 'ready', `model state ${state}`);
  const text = await page.textContent('#load-text');
  assert(text.includes('from the browser cache'), `second load did not come from the cache: ${text}`);
});

/** A page of its own (fresh Cache Storage) on the demo with these query parameters; console errors collected. */
async function openDemo(query) {
  const context = await shared.browser.newContext({ viewport: { width: 1180, height: 900 } });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(`${shared.url}?${new URLSearchParams(query)}`);
  const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
  assert(state === 'ready', `the demo did not load its shipped model: ${state}: ${await page.textContent('#load-text')}`);
  return { page, errors, close: () => context.close() };
}

/** Console errors other than the browser's own notes on failed requests (a 404 probe of a layout, a refused connection). */
function unexpected(errors) {
  return errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED|net::ERR_/.test(e));
}

test('a hub model (pytorch_model.bin) from the local hub server: Cancel mid-download keeps the old model; then it loads and completes an image', async () => {
  const hub = shared.hub;
  hub.clearLog();
  const demo = await openDemo({ hub: hub.url, hubModels: 'test-org/tiny-bin' });
  const { page } = demo;
  try {
    const label = await page.$eval('#model-select option[value="hub:test-org/tiny-bin"]', (o) => o.textContent);
    assert(/download size unknown/.test(label), `the test model's picker entry: ${label}`);
    // First a load cancelled mid-download (the server holds the weights back after 4 KB): the old model stays.
    let stalled;
    const stall = new Promise((resolve) => (stalled = resolve));
    hub.hook = (r) => (r.file === 'pytorch_model.bin' ? { stallAfter: 4096, onStall: stalled } : undefined);
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.selectOption('#model-select', 'hub:test-org/tiny-bin');
    await stall;
    await page.waitForFunction(() => /Downloading pytorch_model\.bin/.test(document.querySelector('#load-text').textContent), null, { timeout: 10_000 });
    await page.screenshot({ path: join(RESULTS, 'hub-loading.png') });
    await page.click('#cancel-load');
    const cancelled = await waitForState(page, 'model', ['cancelled', 'ready', 'error'], 30_000);
    const cancelText = await page.textContent('#load-text');
    assert(cancelled === 'cancelled' && /cancelled/.test(cancelText) && /still using/.test(cancelText), `Cancel during the download: ${cancelled}: ${cancelText}`);
    assert(!(await page.isDisabled('#unconditional')) && (await page.inputValue('#model-select')) === `shipped:${MODEL}`, 'after Cancel the previous model is not the one in use');
    hub.hook = undefined;
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.selectOption('#model-select', 'hub:test-org/tiny-bin');
    const state = await waitForState(page, 'model', ['ready', 'error', 'offline', 'confirm'], 60_000);
    const text = await page.textContent('#load-text');
    assert(state === 'ready' && text.includes('test-org/tiny-bin') && text.includes('4×4'), `hub model: ${state}: ${text}`);
    const phases = await page.getAttribute('#load-status', 'data-phases');
    assert(/download/.test(phases) && /upload/.test(phases), `load progress showed the phases "${phases}", not download and upload`);
    const files = hub.log.filter((r) => r.status === 200 || r.status === 206).map((r) => r.file);
    assert(files.includes('pytorch_model.bin') && files.includes('preprocessor_config.json'), `files served: ${files.join(', ')}`);
    // Complete the gallery image with the 4×4 model: 2 rows kept, 2 generated.
    await page.waitForFunction(() => document.querySelector('#quantized').width === 4, null, { timeout: 10_000 });
    await setSampling(page, { keepRows: 2, samples: 2, seed: 5 });
    const [quantized] = await canvasPixels(page, '#quantized');
    await page.click('#complete');
    const run = await waitForState(page, 'run', ['done', 'error', 'stopped'], 60_000);
    assert(run === 'done', `run state ${run}: ${await page.textContent('#gen-text')}`);
    const samples = await canvasPixels(page, '#samples canvas');
    assert(samples.length === 2 && samples.every((s) => s.width === 4 && same(rowsOf(s, 0, 2), rowsOf(quantized, 0, 2))), 'the kept rows of the hub model\'s samples differ from the quantized input');
    assert(samples.every((s) => rowsOf(s, 2, 4).every((v, i) => i % 4 !== 3 || v === 255)), 'the generated rows are not filled');
    assert(unexpected(demo.errors).length === 0, `console errors:\n${unexpected(demo.errors).join('\n')}`);
  } finally {
    await demo.close();
  }
});

test('a large hub download asks first (Escape or Cancel keeps the model; Download is remembered); an unreachable hub says so, and Retry loads', async () => {
  // The hub address points at a port nothing listens on, until the hub server is started there.
  const port = await freePort();
  const demo = await openDemo({ hub: `http://127.0.0.1:${port}`, hubModels: 'test-org/tiny-bin' });
  const { page } = demo;
  let hub = null;
  try {
    // imagegpt-medium: 1.86 GB asks first; keyboard: focus on Download, Escape cancels.
    await page.selectOption('#model-select', 'hub:openai/imagegpt-medium');
    await waitForState(page, 'model', ['confirm'], 5_000);
    const ask = await page.textContent('#download-confirm');
    assert(/imagegpt-medium/.test(ask) && /1\.86 GB/.test(ask), `the confirmation says: ${ask}`);
    assert((await page.evaluate(() => document.activeElement?.id)) === 'download-yes', 'the Download button does not have the focus');
    await page.screenshot({ path: join(RESULTS, 'hub-confirm.png') });
    await page.keyboard.press('Escape');
    assert(await page.isHidden('#download-confirm'), 'Escape did not close the confirmation');
    assert((await page.inputValue('#model-select')) === `shipped:${MODEL}`, `after Escape the picker shows ${await page.inputValue('#model-select')}`);
    // Again, then Tab to Cancel and Enter.
    await page.selectOption('#model-select', 'hub:openai/imagegpt-medium');
    await waitForState(page, 'model', ['confirm'], 5_000);
    await page.keyboard.press('Tab');
    assert((await page.evaluate(() => document.activeElement?.id)) === 'download-no', 'Tab from Download does not reach Cancel');
    await page.keyboard.press('Enter');
    await waitForState(page, 'model', ['ready'], 5_000);
    assert(!(await page.isDisabled('#unconditional')), 'after Cancel the loaded model is not usable');

    // Nothing listens: the hub is unreachable.
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.selectOption('#model-select', 'hub:test-org/tiny-bin');
    const state = await waitForState(page, 'model', ['offline', 'error', 'ready'], 30_000);
    const panel = (await page.textContent('#hub-error')).replace(/\s+/g, ' ');
    assert(state === 'offline' && (await page.isVisible('#hub-error')), `unreachable hub: ${state}: ${await page.textContent('#load-text')}`);
    assert(/Can't reach the Hugging Face hub — check your connection/.test(panel) && (await page.isVisible('#hub-retry')), `the message: ${panel}`);
    // Beside the picker (just under it), announced as an alert.
    const picker = await page.locator('#model-select').boundingBox();
    const errorBox = await page.locator('#hub-error').boundingBox();
    assert(errorBox.y >= picker.y && errorBox.y - (picker.y + picker.height) < 120 && (await page.getAttribute('#hub-error', 'role')) === 'alert',
      `the hub error is ${Math.round(errorBox.y - picker.y - picker.height)} px below the model picker (role ${await page.getAttribute('#hub-error', 'role')})`);
    assert(!(await page.isDisabled('#unconditional')), 'after the failed load the previous model is not usable');
    await page.screenshot({ path: join(RESULTS, 'hub-unreachable.png') });

    hub = await startHubServer({ port });
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.click('#hub-retry');
    const retried = await waitForState(page, 'model', ['ready', 'error', 'offline'], 60_000);
    const text = await page.textContent('#load-text');
    assert(retried === 'ready' && text.includes('test-org/tiny-bin') && (await page.isHidden('#hub-error')), `Retry: ${retried}: ${text}`);
    assert(!hub.log.some((r) => r.path.includes('imagegpt-medium')), 'a cancelled download still asked the hub for imagegpt-medium');
    // Download confirmed: imagegpt-small is served as the tiny fixture. The answer is remembered: no second question.
    hub.addRepo('openai/imagegpt-small', join(HUB_FIXTURES, 'bin'));
    await page.selectOption('#model-select', 'hub:openai/imagegpt-small');
    await waitForState(page, 'model', ['confirm'], 5_000);
    assert(/332 MB/.test(await page.textContent('#download-confirm')), 'the confirmation for imagegpt-small does not say 332 MB');
    await page.keyboard.press('Enter');
    const small = await waitForState(page, 'model', ['ready', 'error', 'offline'], 60_000);
    assert(small === 'ready' && (await page.textContent('#load-text')).includes('openai/imagegpt-small'), `after Download: ${small}: ${await page.textContent('#load-text')}`);
    await page.selectOption('#model-select', `shipped:${MODEL}`);
    await waitForState(page, 'model', ['ready'], 60_000);
    await page.evaluate(() => {
      document.body.dataset.model = 'stale';
      new MutationObserver(() => document.body.dataset.model === 'confirm' && (window.__asked = true)).observe(document.body, { attributes: true });
    });
    await page.selectOption('#model-select', 'hub:openai/imagegpt-small');
    const again = await waitForState(page, 'model', ['ready', 'error', 'offline'], 60_000);
    assert(again === 'ready' && !(await page.evaluate(() => window.__asked === true)), `choosing imagegpt-small again asked again or failed: ${again}`);
    assert(unexpected(demo.errors).length === 0, `console errors:\n${unexpected(demo.errors).join('\n')}`);
  } finally {
    await demo.close();
    await hub?.close();
  }
});

test('local model folders load through the folder input (safetensors, pytorch_model.bin) and by drop (sharded .bin); a broken one is refused with the reason', async () => {
  const page = shared.page;
  const dir = join(MODELS_DIR, MODEL);
  // The folder input takes directories: make two broken model folders.
  const tmp = mkdtempSync(join(tmpdir(), 'imagegpt-folders-'));
  const folder = (name, files) => {
    mkdirSync(join(tmp, name));
    for (const [f, bytes] of Object.entries(files)) writeFileSync(join(tmp, name, f), bytes);
    return join(tmp, name);
  };
  const read = (f) => readFileSync(join(dir, f));
  const weights = read('model.safetensors');
  const incomplete = folder('incomplete', { 'config.json': read('config.json') });
  const truncated = folder('truncated', { 'config.json': read('config.json'), 'model.safetensors': weights.subarray(0, weights.length - 1000), 'preprocessor_config.json': read('preprocessor_config.json') });
  await page.evaluate(() => (document.body.dataset.model = 'stale'));
  await page.setInputFiles('#folder-input', incomplete);
  const lacking = await waitForState(page, 'model', ['ready', 'error'], 30_000);
  const lackingText = await page.textContent('#model-error');
  assert(lacking === 'error' && (await page.isVisible('#model-error')) && /preprocessor_config\.json/.test(lackingText) && /keeps using/.test(lackingText), `a folder with only config.json: ${lacking}: ${lackingText}`);
  await page.evaluate(() => (document.body.dataset.model = 'stale'));
  await page.setInputFiles('#folder-input', truncated);
  const broken = await waitForState(page, 'model', ['ready', 'error'], 60_000);
  rmSync(tmp, { recursive: true, force: true }); // the page reads the files lazily: only now
  const brokenText = await page.textContent('#model-error');
  assert(broken === 'error' && /could not be loaded|cannot be used|damaged|missing/.test(brokenText) && /keeps using/.test(brokenText), `a truncated model.safetensors: ${broken}: ${brokenText}`);
  assert(/Could not load/.test(await page.textContent('#load-text')), `the load line after a failed load: ${await page.textContent('#load-text')}`);
  assert(!(await page.isDisabled('#unconditional')), 'after a failed load the previous model is not usable');
  // A folder holding pytorch_model.bin (the hub fixture) through the folder input...
  await page.evaluate(() => (document.body.dataset.model = 'stale'));
  await page.setInputFiles('#folder-input', join(HUB_FIXTURES, 'bin'));
  const bin = await waitForState(page, 'model', ['ready', 'error'], 60_000);
  const binText = await page.textContent('#load-text');
  assert(await page.isHidden('#model-error'), 'the error of the broken folder stays after a good folder loaded');
  assert(bin === 'ready' && binText.includes('local: bin') && binText.includes('4×4'), `a local folder with pytorch_model.bin: ${bin}: ${binText}`);
  // ...and the sharded one dropped on the page as files (a test cannot make a dropped directory entry).
  const sharded = join(HUB_FIXTURES, 'bin-sharded');
  const dropped = readdirSync(sharded).map((name) => ({ name, bytes: [...readFileSync(join(sharded, name))] }));
  await page.evaluate(() => (document.body.dataset.model = 'stale'));
  await page.evaluate((files) => {
    const transfer = new DataTransfer();
    for (const f of files) transfer.items.add(new File([new Uint8Array(f.bytes)], f.name));
    document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, dropped);
  const drop = await waitForState(page, 'model', ['ready', 'error'], 60_000);
  const dropText = await page.textContent('#load-text');
  assert(drop === 'ready' && dropText.includes('local: dropped files') && dropText.includes('4×4'), `sharded .bin files dropped on the page: ${drop}: ${dropText}`);
  await page.evaluate(() => (document.body.dataset.model = 'stale'));
  await page.setInputFiles('#folder-input', join(MODELS_DIR, MODEL));
  const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
  const text = await page.textContent('#load-text');
  assert(state === 'ready' && text.includes(`local: ${MODEL}`), `local folder: ${state}: ${text}`);
  assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
});

test('every model the picker lists loads (the shipped ones, by their image size)', async () => {
  const page = shared.page;
  const shipped = await page.$$eval('#model-select option', (os) => os.filter((o) => o.value.startsWith('shipped:')).map((o) => o.value));
  const folders = readdirSync(MODELS_DIR).filter((d) => existsSync(join(MODELS_DIR, d, 'model.safetensors')));
  assert(shipped.length === folders.length, `the picker lists ${shipped.join(', ')}; models/ holds ${folders.join(', ')}`);
  for (const value of shipped) {
    const { size } = JSON.parse(readFileSync(join(MODELS_DIR, value.slice('shipped:'.length), 'preprocessor_config.json'), 'utf8'));
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.selectOption('#model-select', value);
    const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
    const text = await page.textContent('#load-text');
    assert(state === 'ready' && text.includes(`${size.width}×${size.height}`), `${value}: ${state}: ${text}`);
  }
});

async function noWebGpuNotice(browser, initScript) {
  const context = await browser.newContext();
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const errors = collectErrors(page);
  try {
    await page.goto(shared.url);
    const state = await waitForState(page, 'model', ['no-webgpu', 'ready', 'error'], 30_000);
    assert(state === 'no-webgpu', `without WebGPU the model state is ${state}`);
    assert(await page.isVisible('#no-webgpu'), 'the no-WebGPU notice is hidden');
    assert(await page.isDisabled('#unconditional'), 'generation buttons are enabled without WebGPU');
    assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
    return { page, notice: await page.textContent('#no-webgpu'), close: () => context.close() };
  } catch (e) {
    await context.close();
    throw e;
  }
}

test('without WebGPU the page says so plainly (no adapter, and no navigator.gpu at all)', async () => {
  const browser = await launchChromium({ webgpu: false });
  try {
    // Chromium without --enable-unsafe-webgpu on a GPU-less machine: navigator.gpu, but no adapter.
    const noAdapter = await noWebGpuNotice(browser);
    assert(/no GPU adapter/.test(noAdapter.notice) && /chrome:\/\/flags/.test(noAdapter.notice), `notice: ${noAdapter.notice}`);
    await noAdapter.page.screenshot({ path: join(RESULTS, 'no-webgpu.png') });
    await noAdapter.close();
    // A browser without WebGPU at all (older Firefox or Safari): navigator.gpu is undefined.
    const noApi = await noWebGpuNotice(browser, () => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    assert(/does not offer WebGPU/.test(noApi.notice) && /Chrome or Edge 113/.test(noApi.notice) && /Safari 26/.test(noApi.notice), `notice: ${noApi.notice}`);
    await noApi.close();
  } finally {
    await browser.close();
  }
});

test('the static build (npm run build:demo) serves the page, its worker and the shipped models', async () => {
  const { build, preview } = await import('vite');
  const outDir = mkdtempSync(join(tmpdir(), 'imagegpt-demo-build-'));
  const configFile = join(repoRoot, 'demo/vite.config.ts');
  try {
    await build({ configFile, logLevel: 'error', build: { outDir, emptyOutDir: true } });
    for (const f of ['index.html', `models/${MODEL}/model.safetensors`, `models/${MODEL}/preprocessor_config.json`, 'gallery/gallery.json']) {
      assert(existsSync(join(outDir, f)), `the static build lacks ${f}`);
    }
    const port = await freePort();
    const server = await preview({ configFile, logLevel: 'error', build: { outDir }, preview: { port, strictPort: true, host: '127.0.0.1', open: false } });
    const page = await shared.page.context().newPage();
    const errors = collectErrors(page);
    try {
      await page.goto(`http://127.0.0.1:${port}/`);
      const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
      assert(state === 'ready', `static site: model state ${state}`);
      assert(page.workers().length === 1, `static site: ${page.workers().length} workers`);
      assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
    } finally {
      await page.close();
      await new Promise((done) => server.httpServer.close(done));
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

// ---- run ----------------------------------------------------------------------------------------

// Cases kept in their own files (one per demo feature): each exports `register(test, context)`.
const context = {
  shared, assert, waitForState, setRange, setSampling, canvasPixels, openDemo, collectErrors, rowsOf, same, encodePng,
  RESULTS, MODEL, MODELS_DIR, HUB_FIXTURES, docsScreenshot, repoRoot,
};
for (const file of readdirSync(new URL('./cases/', import.meta.url)).filter((f) => f.endsWith('.mjs')).sort()) {
  const mod = await import(new URL(`./cases/${file}`, import.meta.url).href);
  mod.register(test, context);
}

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
