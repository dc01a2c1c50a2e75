// What the e2e cases do on a page: wait for the demo's states, set its controls, read its canvases, collect
// its console errors, open a fresh demo page; and the instrumentation every page of the run starts with.

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Counts WebGPU device requests on the page's main thread and the longest gap between its timer ticks. */
export function instrument() {
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

export async function canvasPixels(page, selector) {
  return page.evaluate((sel) => {
    return [...document.querySelectorAll(sel)].map((canvas) => {
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      return { width: canvas.width, height: canvas.height, data: Array.from(data) };
    });
  }, selector);
}

/** The status line that says why, per state key (named when a wait times out). */
const STATUS = { model: '#load-text', run: '#gen-text', features: '#features-text' };

/** Waits until document.body.dataset[key] is one of `values`; a timeout names the page's status line. */
export async function waitForState(page, key, values, timeout) {
  const wanted = Array.isArray(values) ? values : [values];
  try {
    await page.waitForFunction(([k, v]) => v.includes(document.body.dataset[k]), [key, wanted], { timeout, polling: 100 });
  } catch (e) {
    const status = await page.textContent(STATUS[key]).catch(() => '?');
    throw new Error(`waited ${timeout / 1000} s for ${key} to be ${wanted.join(' or ')}; the page says: ${status}`);
  }
  return page.evaluate((k) => document.body.dataset[k], key);
}

export async function setRange(page, selector, value) {
  await page.$eval(selector, (el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

export async function setSampling(page, { keepRows, samples, seed }) {
  if (keepRows !== undefined) await setRange(page, '#keep-rows', keepRows);
  if (samples !== undefined) await setRange(page, '#samples-count', samples);
  if (seed !== undefined) {
    await page.fill('#seed', String(seed));
    await page.setChecked('#vary-seed', false);
  }
}

export function rowsOf(image, from, to) {
  return image.data.slice(from * image.width * 4, to * image.width * 4);
}

export function same(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Console errors and uncaught exceptions of a page and its workers. */
export function collectErrors(page) {
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && errors.push(`worker console: ${m.text()}`)));
  return errors;
}

/** A page of its own (fresh Cache Storage) on the run's demo (`shared.browser`, `shared.url`) with these query parameters; console errors collected. */
export async function openDemo(shared, query) {
  const context = await shared.browser.newContext({ viewport: { width: 1180, height: 900 } });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(`${shared.url}?${new URLSearchParams(query)}`);
  const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
  assert(state === 'ready', `the demo did not load its shipped model: ${state}: ${await page.textContent('#load-text')}`);
  return { page, errors, close: () => context.close() };
}

/** Console errors other than the browser's own notes on failed requests (a 404 probe of a layout, a refused connection). */
export function unexpected(errors) {
  return errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED|net::ERR_/.test(e));
}
