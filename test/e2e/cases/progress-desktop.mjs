// Field reports, round 3, on the demo: the samples come into view when a run starts at 1280×900 (and at
// 390×844); Likelihood shows progress per batch; a hub load that fails mid-download leaves no part-filled bar;
// a server that gzips the weights (no size known) gives bytes and an indeterminate bar, never "Infinity %".
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startHubServer } from '../../helpers/hub-server.mjs';

/** What a load line or a percentage must never say. */
const NONSENSE = /Infinity|NaN|undefined|\b(10[1-9]|1[1-9]\d|[2-9]\d\d|\d{4,}) %/;

/** Records every text of `#${textId}` and every value of `#${barId}` (null: indeterminate) from page start. */
function recordProgress([textId, barId]) {
  window.__progress = [];
  const seen = () => {
    const text = document.getElementById(textId)?.textContent ?? '';
    const bar = document.getElementById(barId);
    const value = bar ? bar.getAttribute('value') : null;
    const entry = { text, value: value === null ? null : Number(value), hidden: !!bar?.hidden };
    const last = window.__progress.at(-1);
    if (!last || last.text !== entry.text || last.value !== entry.value || last.hidden !== entry.hidden) window.__progress.push(entry);
  };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['value', 'hidden'] });
}

/**
 * A hub-shaped server (`/{org}/{repo}/resolve/main/{file}`) that sends every file gzipped and chunked: no
 * Content-Length, no Range, as a server or proxy compressing on the fly does. The browser unzips it, so the
 * loader cannot know a size in advance.
 */
async function startGzipHub(repo, folder) {
  const log = [];
  const server = createServer((req, res) => {
    const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Content-Encoding, X-Error-Code, X-Error-Message' };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'Access-Control-Allow-Methods': 'GET, HEAD', 'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'Range' });
      res.end();
      return;
    }
    const prefix = `/${repo}/resolve/main/`;
    const file = req.url?.startsWith(prefix) ? decodeURIComponent(req.url.slice(prefix.length)) : '';
    log.push(`${req.method} ${file} ${req.headers.range ?? ''}`.trim());
    let bytes;
    try {
      bytes = file && !file.includes('/') ? readFileSync(join(folder, file)) : null;
    } catch {
      bytes = null;
    }
    if (!bytes) {
      res.writeHead(404, { ...cors, 'Content-Type': 'text/plain', 'X-Error-Code': 'EntryNotFound', 'X-Error-Message': 'Entry not found' });
      res.end('Entry not found');
      return;
    }
    const zipped = gzipSync(bytes);
    res.writeHead(200, { ...cors, 'Content-Type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream', 'Content-Encoding': 'gzip' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // In pieces with pauses, so the page sees the download move.
    let at = 0;
    const pump = () => {
      if (at >= zipped.length) return res.end();
      res.write(zipped.subarray(at, at + 32 * 1024));
      at += 32 * 1024;
      setTimeout(pump, 10);
    };
    pump();
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    close: () => new Promise((done) => {
      server.closeAllConnections();
      server.close(done);
    }),
  };
}

export function register(test, { shared, assert, waitForState, setSampling, collectErrors, RESULTS, MODELS_DIR, MODEL }) {
  /** A fresh page (own Cache Storage) at this size on the demo with these query parameters, recording load progress. */
  async function page(viewport, query = {}) {
    const context = await shared.browser.newContext({ viewport, deviceScaleFactor: 1 });
    await context.addInitScript(recordProgress, ['load-text', 'load-progress']);
    const p = await context.newPage();
    const errors = collectErrors(p);
    await p.goto(`${shared.url}?${new URLSearchParams(query)}`);
    const state = await waitForState(p, 'model', ['ready', 'error'], 60_000);
    assert(state === 'ready', `the demo did not load its shipped model: ${state}: ${await p.textContent('#load-text')}`);
    return { page: p, errors, close: () => context.close() };
  }

  /** Where the Samples card and Stop are in the viewport. */
  const layout = (p) => p.evaluate(() => {
    const card = document.querySelector('#samples').closest('section').getBoundingClientRect();
    const stop = document.querySelector('#stop').getBoundingClientRect();
    return { top: card.top, bottom: card.bottom, stopTop: stop.top, stopBottom: stop.bottom, height: innerHeight, scrollY };
  });

  test('a run brings the samples into view at 1280×900 (Stop stays on screen) and at 390×844; Likelihood shows progress per batch', async () => {
    const { page: p, errors, close } = await page({ width: 1280, height: 900 });
    try {
      await p.waitForFunction(() => document.querySelector('#quantized').width === 16, null, { timeout: 10_000 });
      await setSampling(p, { keepRows: 14, samples: 4, seed: 21 });
      const before = await layout(p);
      // The empty card starts near the fold; with 4 sample slots in it, it would end below.
      assert(before.scrollY === 0 && before.top > before.height / 2, `before the run the Samples card starts at ${before.top} px (scrolled ${before.scrollY} px): the case tests nothing`);
      await p.evaluate(() => {
        const bar = document.querySelector('#gen-progress');
        window.__gen = [];
        new MutationObserver(() => window.__gen.push(bar.getAttribute('value'))).observe(bar, { attributes: true, attributeFilter: ['value'] });
      });
      await p.click('#complete');
      await p.waitForFunction(() => document.body.dataset.run === 'running', null, { timeout: 10_000 });
      const running = await layout(p);
      await p.screenshot({ path: join(RESULTS, 'run-1280.png') });
      assert(running.top >= 0 && running.bottom <= running.height, `at 1280×900 the running samples are at ${running.top}..${running.bottom} px of a ${running.height} px viewport`);
      assert(running.stopTop >= 0 && running.stopBottom <= running.height, `at 1280×900 Stop scrolled away (${running.stopTop} px)`);
      assert((await waitForState(p, 'run', ['done', 'error', 'stopped'], 90_000)) === 'done', `the run: ${await p.textContent('#gen-text')}`);
      // The bar is busy (no value) until the first row, then rises to full.
      const gen = await p.evaluate(() => window.__gen);
      const numbers = gen.slice(1).map(Number);
      assert(gen[0] === null && gen.at(-1) === '1' && numbers.every((v, i) => v >= 0 && v <= 1 && (i === 0 || v >= numbers[i - 1])), `the generation bar went ${JSON.stringify(gen)}`);

      // Likelihood of the original and the 4 samples: busy until the first batch; 2 images per batch, so 2, 4 and
      // 5 of 5 are said on the way.
      await p.evaluate(() => {
        window.__scoring = [];
        const text = document.querySelector('#likelihood-text');
        const bar = document.querySelector('#likelihood-progress');
        new MutationObserver(() => window.__scoring.push({ text: text.textContent, value: bar.value, busy: !bar.hasAttribute('value') })).observe(text, { childList: true, characterData: true, subtree: true });
      });
      await p.click('#tab-likelihood');
      await p.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.likelihood), null, { timeout: 60_000, polling: 100 });
      const scoring = await p.evaluate(() => window.__scoring);
      const final = await p.evaluate(() => ({ state: document.body.dataset.likelihood, value: document.querySelector('#likelihood-progress').value, entries: document.querySelectorAll('.likelihood-entry').length }));
      assert(final.state === 'done' && final.entries === 5 && final.value === 1, `likelihood: ${JSON.stringify(final)}: ${await p.textContent('#likelihood-text')}`);
      const steps = scoring.map((s) => /: (\d) of 5 done/.exec(s.text)?.[1]).filter(Boolean);
      assert(steps.join(',') === '2,4,5', `the Likelihood status said ${JSON.stringify(scoring.map((s) => s.text))}: expected 2, 4 and 5 of 5 done`);
      assert(scoring[0]?.busy && /^Scoring 5 images on the GPU…$/.test(scoring[0].text), `before its first batch the Likelihood bar is not busy: ${JSON.stringify(scoring[0])}`);
      const values = scoring.filter((s) => /of 5 done/.test(s.text)).map((s) => s.value);
      assert(values.every((v, i) => v > 0 && v <= 1 && (i === 0 || v >= values[i - 1])), `the Likelihood bar went ${values.join(', ')}`);
      shared.notes.push(`likelihood progress: ${scoring.map((s) => s.text).join(' → ')}`);

      // The phone layout does the same (its run bar is fixed at the bottom of the screen).
      await p.click('#tab-complete');
      await p.setViewportSize({ width: 390, height: 844 });
      await p.evaluate(() => window.scrollTo(0, 0));
      await setSampling(p, { keepRows: 15, samples: 2 });
      await p.click('#complete');
      await p.waitForFunction(() => document.body.dataset.run === 'running', null, { timeout: 10_000 });
      const phone = await layout(p);
      await p.screenshot({ path: join(RESULTS, 'run-390.png') });
      assert(phone.top >= 0 && phone.top < phone.height / 2, `at 390×844 the running samples' card starts at ${phone.top} px`);
      assert((await waitForState(p, 'run', ['done', 'error', 'stopped'], 90_000)) === 'done', `the phone run: ${await p.textContent('#gen-text')}`);
      assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
    } finally {
      await close();
    }
  });

  test('a run that fails leaves an empty bar and no sample slots; a new model clears the last run\'s samples and status line', async () => {
    const { page: p, errors, close } = await page({ width: 1280, height: 900 });
    try {
      await p.waitForFunction(() => document.querySelector('#quantized').width === 16, null, { timeout: 10_000 });
      await setSampling(p, { keepRows: 15, samples: 1, seed: 4 });
      await p.click('#complete');
      assert((await waitForState(p, 'run', ['done', 'error', 'stopped'], 60_000)) === 'done', `the first run: ${await p.textContent('#gen-text')}`);
      // 20 rows kept of 16: the worker refuses the run after the page has made its slots.
      await p.$eval('#keep-rows', (el) => {
        el.max = '99';
        el.value = '20';
        el.dispatchEvent(new Event('input', { bubbles: true }));
      });
      await p.click('#complete');
      assert((await waitForState(p, 'run', ['done', 'error', 'stopped'], 30_000)) === 'error', `the refused run: ${await p.textContent('#gen-text')}`);
      const failed = await p.evaluate(() => ({
        text: document.querySelector('#gen-text').textContent,
        value: document.querySelector('#gen-progress').getAttribute('value'),
        slots: document.querySelectorAll('#samples canvas').length,
      }));
      await p.screenshot({ path: join(RESULTS, 'error-run.png') });
      assert(/^Generation failed: keepRows must be an integer in 0\.\.15 \(at least one row left to complete\), got 20/.test(failed.text), `the failed run says: ${failed.text}`);
      assert(failed.value === '0' && failed.slots === 0, `after the failed run the bar is at ${failed.value} with ${failed.slots} sample slots`);
      // A good run, then another model: its samples and "Done in …" go with the model that made them.
      await setSampling(p, { keepRows: 15 });
      await p.click('#complete');
      assert((await waitForState(p, 'run', ['done', 'error', 'stopped'], 60_000)) === 'done', `the run after the failure: ${await p.textContent('#gen-text')}`);
      await p.selectOption('#model-select', 'shipped:emoji-32');
      assert((await waitForState(p, 'model', ['ready', 'error'], 90_000)) === 'ready', `emoji-32: ${await p.textContent('#load-text')}`);
      const switched = await p.evaluate(() => ({
        text: document.querySelector('#gen-text').textContent,
        value: document.querySelector('#gen-progress').value,
        slots: document.querySelectorAll('#samples canvas').length,
      }));
      assert(switched.text === 'Pick an image and press Complete (with emoji-32).' && switched.value === 0 && switched.slots === 0, `after the model change: ${JSON.stringify(switched)}`);
      assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
    } finally {
      await close();
    }
  });

  test('at 1280×900, something dropped with the page scrolled to its end brings its progress or message into view', async () => {
    const { page: p, errors, close } = await page({ width: 1280, height: 900 });
    /** Drops `files` ({ name, text }) on the page with it scrolled to the end; then where `selector` is. */
    const dropAtEnd = async (files, selector, state) => {
      await p.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
      const scrolled = await p.evaluate(() => scrollY);
      await p.evaluate(() => (document.body.dataset.model = 'stale'));
      await p.evaluate((list) => {
        const transfer = new DataTransfer();
        for (const f of list) transfer.items.add(new File([f.text], f.name, { type: f.type ?? '' }));
        document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      }, files);
      await state();
      const box = await p.evaluate((sel) => {
        const r = document.querySelector(sel).getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, height: innerHeight, visible: !document.querySelector(sel).hidden };
      }, selector);
      return { scrolled, ...box };
    };
    try {
      // A finished run of 8 samples (one row each) makes the page long: its samples and history card.
      await p.waitForFunction(() => document.querySelector('#quantized').width === 16, null, { timeout: 10_000 });
      await setSampling(p, { keepRows: 15, samples: 8, seed: 8 });
      await p.click('#complete');
      assert((await waitForState(p, 'run', ['done', 'error', 'stopped'], 60_000)) === 'done', `the run: ${await p.textContent('#gen-text')}`);
      assert(await p.evaluate(() => document.documentElement.scrollHeight > innerHeight + 400), 'the page is not long enough at 1280×900 for this case');
      // (-1: layout rounds to fractions of a pixel.) A "model folder" with only config.json: refused, the reason beside the picker at the top of the page.
      const config = readFileSync(join(MODELS_DIR, MODEL, 'config.json'), 'utf8');
      const folder = await dropAtEnd([{ name: 'config.json', text: config }], '#model-error',
        () => waitForState(p, 'model', ['error', 'ready'], 30_000));
      assert(folder.scrolled > 400 && folder.visible && folder.top >= -1 && folder.bottom <= folder.height,
        `the refused folder's message is at ${folder.top}..${folder.bottom} px of ${folder.height} (dropped at scroll ${folder.scrolled})`);
      assert(/preprocessor_config\.json/.test(await p.textContent('#model-error')), `the message: ${await p.textContent('#model-error')}`);
      // A file that is no image: named beside the upload control.
      const upload = await dropAtEnd([{ name: 'notes.txt', text: 'not a picture', type: 'text/plain' }], '#upload-error',
        () => p.waitForFunction(() => !document.querySelector('#upload-error').hidden, null, { timeout: 10_000 }));
      await p.screenshot({ path: join(RESULTS, 'error-drop-1280.png') });
      const zone = await p.evaluate(() => document.querySelector('.dropzone').getBoundingClientRect().top);
      assert(upload.scrolled > 400 && upload.visible && zone >= -1 && upload.bottom <= upload.height,
        `the unreadable drop's message is at ${upload.top}..${upload.bottom} px of ${upload.height}, the upload control at ${zone} px (dropped at scroll ${upload.scrolled})`);
      assert(/notes\.txt/.test(await p.textContent('#upload-error')), `the message: ${await p.textContent('#upload-error')}`);
      assert(unexpectedErrors(errors).length === 0, `console errors:\n${unexpectedErrors(errors).join('\n')}`);
    } finally {
      await close();
    }
  });

  test('a hub load that fails mid-download leaves no part-filled bar (the load line says it failed)', async () => {
    const hub = await startHubServer();
    let closed = false;
    const { page: p, errors, close } = await page({ width: 1280, height: 900 }, { hub: hub.url, hubModels: 'test-org/tiny-bin' });
    try {
      let stalled;
      const stall = new Promise((resolve) => (stalled = resolve));
      hub.hook = (r) => (r.file === 'pytorch_model.bin' ? { stallAfter: 4096, onStall: stalled } : undefined);
      await p.selectOption('#model-select', 'hub:test-org/tiny-bin');
      await stall;
      await p.waitForFunction(() => {
        const bar = document.querySelector('#load-progress');
        return /Downloading pytorch_model\.bin/.test(document.querySelector('#load-text').textContent) && bar.value > 0 && bar.value < 1;
      }, null, { timeout: 10_000 });
      const during = await p.evaluate(() => document.querySelector('#load-progress').value);
      // The connection drops with the body half sent.
      await hub.close();
      closed = true;
      const state = await waitForState(p, 'model', ['error', 'offline', 'ready', 'cancelled'], 30_000);
      const after = await p.evaluate(() => {
        const bar = document.querySelector('#load-progress');
        return { hidden: bar.hidden, value: bar.value, text: document.querySelector('#load-text').textContent };
      });
      await p.screenshot({ path: join(RESULTS, 'error-hub-dropped.png') });
      assert(state === 'error' || state === 'offline', `a dropped download ended ${state}: ${after.text}`);
      assert(after.hidden && after.value === 0, `after the failed load (the bar was at ${during}) the bar is ${after.hidden ? 'hidden' : 'shown'} at ${after.value}`);
      assert(/Could not load test-org\/tiny-bin/.test(after.text) && /still using/.test(after.text), `the load line: ${after.text}`);
      assert(!(await p.isDisabled('#complete')), 'the previous model is not usable after the failed load');
      // The next load shows its bar again, from 0 up to full.
      await p.selectOption('#model-select', `shipped:${MODEL}`);
      assert((await waitForState(p, 'model', ['ready', 'error'], 60_000)) === 'ready', 'the shipped model did not load again');
      const again = await p.evaluate(() => ({ hidden: document.querySelector('#load-progress').hidden, value: document.querySelector('#load-progress').value }));
      assert(!again.hidden && again.value === 1, `after the next load the bar is ${JSON.stringify(again)}`);
      const absurd = unexpectedErrors(errors);
      assert(absurd.length === 0, `console errors:\n${absurd.join('\n')}`);
    } finally {
      await close();
      if (!closed) await hub.close();
    }
  });

  test('weights from a server that gzips them (size unknown): bytes and an indeterminate bar, never Infinity or past 100 %', async () => {
    const gz = await startGzipHub('test-org/gzipped', join(MODELS_DIR, MODEL));
    const { page: p, errors, close } = await page({ width: 1280, height: 900 }, { hub: gz.url, hubModels: 'test-org/gzipped' });
    try {
      await p.evaluate(() => (window.__progress.length = 0));
      await p.selectOption('#model-select', 'hub:test-org/gzipped');
      // A picture of the busy bar for the eye (test-results/load-size-unknown.png); the checks below use the record.
      await p.waitForFunction(() => /size unknown/.test(document.querySelector('#load-text').textContent), null, { timeout: 30_000, polling: 'raf' })
        .then(() => p.screenshot({ path: join(RESULTS, 'load-size-unknown.png'), clip: { x: 0, y: 0, width: 1280, height: 220 } }), () => {});
      const state = await waitForState(p, 'model', ['ready', 'error', 'offline'], 90_000);
      const seen = await p.evaluate(() => window.__progress);
      const text = await p.textContent('#load-text');
      assert(state === 'ready' && text.includes('test-org/gzipped'), `the gzipped model: ${state}: ${text} (requests: ${gz.log.join('; ')})`);
      const absurd = seen.filter((s) => NONSENSE.test(s.text) || (s.value !== null && !(s.value >= 0 && s.value <= 1)));
      assert(absurd.length === 0, `the load line said ${JSON.stringify(absurd.slice(0, 3))}`);
      const unknown = seen.filter((s) => /Downloading model\.safetensors: [\d.]+ [kMG]?B \(size unknown\)/.test(s.text));
      assert(unknown.length > 0, `no "size unknown" download line; the lines: ${JSON.stringify([...new Set(seen.map((s) => s.text))].slice(0, 8))}`);
      assert(unknown.some((s) => s.value === null), 'the bar never went indeterminate while the size was unknown');
      const last = seen.at(-1);
      assert(last.value === 1 && !last.hidden, `the bar after the load: ${JSON.stringify(last)}`);
      shared.notes.push(`gzipped load: ${unknown.length} "size unknown" lines, last "${unknown.at(-1).text}"`);
      assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
    } finally {
      await close();
      await gz.close();
    }
  });
}

/** Console errors other than the browser's notes on failed requests (the dropped connection). */
function unexpectedErrors(errors) {
  return errors.filter((e) => !/Failed to load resource|net::ERR_/.test(e));
}
