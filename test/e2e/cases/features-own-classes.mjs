// The Features view for newcomers: "teach it your own classes" trains a probe on two drawn classes and
// classifies new drawings live; the saved probe JSON loads in a fresh page to the same confidences; a bad
// file and a probe of another model are refused beside the load control; the panel fits a 390 px phone.
// And the gallery chart opens on its best layer with the reading sentence and the verdict beside raw pixels.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers.mjs';

/** A stroke as points in [0, 1]² of the pad. */
const zigzag = (y0, y1, rows) => Array.from({ length: rows * 2 }, (_, i) => [i % 2 ? 0.85 : 0.15, y0 + ((y1 - y0) * Math.floor(i / 2)) / Math.max(rows - 1, 1)]);
const vertical = (x0, x1, cols) => Array.from({ length: cols * 2 }, (_, i) => [x0 + ((x1 - x0) * Math.floor(i / 2)) / Math.max(cols - 1, 1), i % 2 ? 0.85 : 0.15]);

/** Draws strokes of `color` on the own-classes pad with mouse events (each mouse-up ends a stroke, as a user would). */
async function draw(page, color, strokes) {
  await page.$eval('#own-draw-color', (el, v) => {
    el.value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, color);
  const box = await page.locator('#own-draw-canvas').boundingBox();
  const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
  for (const stroke of strokes) {
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const p of stroke.slice(1)) await page.mouse.move(...at(p), { steps: 3 });
    await page.mouse.up();
  }
}

/** Waits until document.body.dataset[key] is one of `values`; a timeout names the panel's status and errors. */
async function waitForOwn(page, key, values, timeout = 60_000) {
  try {
    await page.waitForFunction(([k, v]) => v.includes(document.body.dataset[k]), [key, values], { timeout, polling: 100 });
  } catch {
    const said = await page.evaluate(() => ['#own-status', '#own-train-error', '#own-predict-error', '#own-load-error'].map((s) => `${s}: ${document.querySelector(s)?.textContent}`).join(' | '));
    throw new Error(`waited ${timeout / 1000} s for ${key} to be ${values.join(' or ')}; the panel says ${said}`);
  }
  return page.evaluate((k) => document.body.dataset[k], key);
}

/** The live prediction of the drawing: predicted class and each class's probability. */
function drawingPrediction(page) {
  return page.evaluate(() => {
    const figure = document.querySelector('#own-drawing-prediction');
    if (!figure) return null;
    const bars = Object.fromEntries([...figure.querySelectorAll('.own-bars li')].map((li) => [li.dataset.class, Number(li.dataset.probability)]));
    return { predicted: figure.dataset.predicted, bars, text: figure.textContent };
  });
}

/** Clears the pad, draws one stroke, and waits for the live prediction it starts. */
async function classifyStroke(page, color, stroke) {
  await page.click('#own-draw-clear');
  await page.evaluate(() => (document.body.dataset.ownPredict = ''));
  await draw(page, color, [stroke]);
  const state = await waitForOwn(page, 'ownPredict', ['done', 'error']);
  if (state !== 'done') throw new Error(`prediction ${state}: ${await page.textContent('#own-predict-error')}`);
  return drawingPrediction(page);
}

/** A fresh page on the demo (same browser context: the model comes from its cache) with the Features tab open. */
async function featuresPage(shared, waitForState, collectErrors, assert, viewport) {
  const page = await shared.page.context().newPage();
  if (viewport) await page.setViewportSize(viewport);
  const errors = collectErrors(page);
  await page.goto(shared.url);
  const loaded = await waitForState(page, 'model', ['ready', 'error'], 60_000);
  assert(loaded === 'ready', `model state ${loaded}`);
  await page.click('#tab-features');
  return { page, errors };
}

const RED = '#e53935';
const BLUE = '#1e4fd8';

export function register(test, context) {
  const { shared, assert, waitForState, collectErrors, RESULTS, MODEL } = context;

  test('features, own classes: trains on two drawn classes, classifies new drawings live, saves and reloads the probe, refuses bad files', async () => {
    const { page, errors } = await featuresPage(shared, waitForState, collectErrors, assert);
    let second = null;
    try {
      const started = Date.now();
      // Too few images: the error sits beside Train, and nothing is trained.
      await page.click('#own-train');
      const invalid = await page.textContent('#own-train-error');
      assert(/has no images: add at least 2 per class/.test(invalid), `train with no images says: ${invalid}`);

      // Two classes, each of three different drawings: red horizontal zigzags, blue vertical ones.
      const classes = page.locator('#own-classes .own-class');
      await classes.nth(0).locator('.own-class-name').fill('red things');
      await classes.nth(1).locator('.own-class-name').fill('blue things');
      const shapes = [[0.15, 0.5, 3], [0.4, 0.85, 3], [0.2, 0.8, 4]];
      for (const [a, b, n] of shapes) {
        await draw(page, RED, [zigzag(a, b, n)]);
        await classes.nth(0).locator('.own-add-drawing').click();
      }
      for (const [a, b, n] of shapes) {
        await draw(page, BLUE, [vertical(a, b, n)]);
        await classes.nth(1).locator('.own-add-drawing').click();
      }
      const counts = await page.$$eval('#own-classes .own-count', (els) => els.map((e) => e.textContent));
      assert(counts.join() === '3 images,3 images', `class counts ${counts}`);
      assert((await page.locator('#own-classes .own-images canvas').count()) === 6, 'six thumbnails expected');

      const trainStarted = Date.now();
      await page.click('#own-train');
      const trained = await waitForOwn(page, 'ownProbe', ['trained', 'error', 'invalid'], 90_000);
      assert(trained === 'trained', `probe ${trained}: ${await page.textContent('#own-train-error')}`);
      const status = await page.textContent('#own-status');
      assert(/Trained on 6 pictures of 2 classes/.test(status), `status after training: ${status}`);
      const layer = await page.inputValue('#own-layer');
      const trainSeconds = (Date.now() - trainStarted) / 1000;

      // New drawings, unlike any training one, are classified live as each stroke ends.
      const predictStarted = Date.now();
      const red = await classifyStroke(page, RED, zigzag(0.3, 0.7, 3));
      const predictSeconds = (Date.now() - predictStarted) / 1000;
      assert(red.predicted === 'red things', `a new red drawing was classified as ${red.predicted}: ${red.text}`);
      const blue = await classifyStroke(page, BLUE, vertical(0.3, 0.7, 3));
      assert(blue.predicted === 'blue things', `a new blue drawing was classified as ${blue.predicted}: ${blue.text}`);
      const sum = Object.values(blue.bars).reduce((a, b) => a + b, 0);
      assert(Math.abs(sum - 1) < 1e-4 && blue.bars['blue things'] > 0.5, `confidences ${JSON.stringify(blue.bars)}`);
      await page.screenshot({ path: join(RESULTS, 'features-own-classes.png'), fullPage: true });

      // Save: the file names the model and layer, the classes, the standardization and the weights.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#own-save')]);
      const text = readFileSync(await download.path(), 'utf8');
      const saved = JSON.parse(text);
      assert(saved.model.name === MODEL && String(saved.layer) === layer, `saved model ${saved.model.name}, layer ${saved.layer} (chosen ${layer})`);
      assert(saved.classes.join() === 'red things,blue things', `saved classes ${saved.classes}`);
      assert(saved.probe.mean.length === saved.model.nEmbd && saved.probe.weights.length === 2 * saved.model.nEmbd, 'saved standardization / weights have the wrong sizes');

      // Load it in a fresh page with no classes: the same drawing gets the same confidences.
      ({ page: second } = await featuresPage(shared, waitForState, collectErrors, assert));
      const loadFile = (name, body) => second.setInputFiles('#own-load-input', { name, mimeType: 'application/json', buffer: Buffer.from(body) });
      await second.evaluate(() => (document.body.dataset.ownLoad = ''));
      await loadFile('probe.json', text);
      const loadState = await waitForOwn(second, 'ownLoad', ['done', 'error']);
      assert(loadState === 'done', `loading the saved probe: ${await second.textContent('#own-load-error')}`);
      assert((await second.inputValue('#own-layer')) === layer, 'the loaded probe did not select its layer');
      const again = await classifyStroke(second, BLUE, vertical(0.3, 0.7, 3));
      assert(again.predicted === blue.predicted, `after the round trip the drawing is ${again.predicted}, before ${blue.predicted}`);
      for (const [name, p] of Object.entries(blue.bars)) {
        assert(Math.abs(again.bars[name] - p) < 1e-6, `confidence of ${name}: ${again.bars[name]} after the round trip, ${p} before`);
      }

      // A file that is not JSON, a wrong field, and a probe of another model: each refused beside the load control.
      const refusals = [
        ['broken.json', '{"format": "imagegpt-webgpu/demo-own-classes-probe", ', /broken\.json was not loaded: the file is not JSON/],
        ['wrong-layer.json', JSON.stringify({ ...saved, layer: 99 }), /"layer" is 99: expected an integer from 0 to \d+/],
        ['other-model.json', JSON.stringify({ ...saved, model: { ...saved.model, name: 'another-model' } }), new RegExp(`trained on the another-model model \\(layer ${layer}\\), but ${MODEL} is loaded: load another-model first`)],
      ];
      for (const [name, body, expected] of refusals) {
        await second.evaluate(() => (document.body.dataset.ownLoad = ''));
        await loadFile(name, body);
        await waitForOwn(second, 'ownLoad', ['done', 'error']);
        const shown = await second.textContent('#own-load-error');
        assert(expected.test(shown), `${name}: the load error says "${shown}"`);
      }
      const near = await second.evaluate(() => {
        const control = document.querySelector('#own-load-input').getBoundingClientRect();
        const error = document.querySelector('#own-load-error');
        const box = error.getBoundingClientRect();
        return { gap: box.top - control.bottom, visible: box.height > 0, color: getComputedStyle(error).color, role: error.getAttribute('role') };
      });
      assert(near.visible && near.gap >= 0 && near.gap < 60, `the load error is ${near.gap} px below the load control`);
      assert(near.role === 'alert', 'the load error is not announced');
      // The refused files left the loaded probe in place.
      const still = await classifyStroke(second, BLUE, vertical(0.3, 0.7, 3));
      assert(still.predicted === 'blue things', `after the refused files the drawing is ${still.predicted}`);

      // Gallery picks by keyboard: the arrow keys only move; Enter adds that one emoji to the chosen class.
      await second.click('.own-gallery-picks summary');
      await second.selectOption('#own-gallery-target', '1');
      await second.focus('.own-gallery button[tabindex="0"]');
      await second.keyboard.press('ArrowRight');
      await second.keyboard.press('ArrowRight');
      await second.keyboard.press('Enter');
      await second.waitForFunction(() => document.querySelectorAll('#own-classes .own-class:nth-child(2) .own-images canvas').length === 1, null, { timeout: 10_000 });
      const picked = await second.$$eval('#own-classes .own-count', (els) => els.map((e) => e.textContent));
      assert(picked.join() === '0 images,1 image', `after moving twice and Enter, the class counts are ${picked}`);
      // A mouse pick moves the group's one Tab stop to the clicked button.
      await second.click('.own-gallery:not(.style-gallery) button:nth-child(5)');
      await second.waitForFunction(() => document.querySelectorAll('#own-classes .own-class:nth-child(2) .own-images canvas').length === 2, null, { timeout: 10_000 });
      const stops = await second.$$eval('.own-gallery:not(.style-gallery) button', (buttons) => buttons.flatMap((b, i) => (b.tabIndex === 0 ? [i] : [])));
      assert(stops.join() === '4', `after clicking the fifth gallery button the Tab stops are at ${JSON.stringify(stops)}`);

      // At phone width the panel fits its card.
      await second.setViewportSize({ width: 390, height: 844 });
      const fit = await second.evaluate(() => {
        const card = document.querySelector('#own-classes');
        const box = card.getBoundingClientRect();
        const wide = [...card.querySelectorAll('*')].filter((e) => e.getBoundingClientRect().right > box.right + 1).map((e) => e.id || e.className || e.tagName);
        return { right: box.right, scroll: card.scrollWidth, client: card.clientWidth, wide };
      });
      assert(fit.right <= 390 && fit.scroll <= fit.client && fit.wide.length === 0, `at 390 px the panel overflows: ${JSON.stringify(fit)}`);
      await second.locator('#own-classes').screenshot({ path: join(RESULTS, 'features-own-classes-390.png') });
      shared.notes.push(
        `own classes (layer ${layer}): training on 6 drawings ${trainSeconds.toFixed(1)} s (click to trained), one live prediction ${predictSeconds.toFixed(1)} s ` +
          `(stroke drawn to bars), whole case ${((Date.now() - started) / 1000).toFixed(1)} s; a new blue drawing: ${JSON.stringify(blue.bars)}`,
      );
      assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
    } finally {
      await second?.close();
      await page.close();
    }
  });

  test('features, best layer: the chart opens on its best layer, with how to read it and what the best layer means beside raw pixels', async () => {
    // A small gallery (3 categories × 4) keeps the GPU work and the leave-one-out fits short.
    const all = JSON.parse(readFileSync(join(repoRoot, 'demo/public/gallery/gallery.json'), 'utf8'));
    const byClass = new Map();
    for (const item of all) byClass.set(item.category, [...(byClass.get(item.category) ?? []), item]);
    const gallery = [...byClass.values()].filter((items) => items.length >= 4).slice(0, 3).flatMap((items) => items.slice(0, 4));
    const page = await shared.page.context().newPage();
    const errors = collectErrors(page);
    try {
      await page.route('**/gallery/gallery.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(gallery) }));
      await page.goto(shared.url);
      assert((await waitForState(page, 'model', ['ready', 'error'], 60_000)) === 'ready', 'model did not load');
      await page.click('#tab-features');
      const glossary = await page.$$eval('#features-glossary dt', (dts) => dts.map((d) => d.textContent.toLowerCase()));
      for (const term of ['l2 penalty', 'leave-one-out', 'standardized']) assert(glossary.includes(term), `the glossary lacks ${term}: ${glossary}`);
      await page.click('#extract');
      const state = await waitForState(page, 'features', ['done', 'error'], 150_000);
      assert(state === 'done', `features state ${state}`);
      const shown = await page.evaluate(() => {
        const points = [...document.querySelectorAll('#accuracy-chart circle title')].map((t) => Number(/(\d+) %$/.exec(t.textContent)[1]));
        const pixels = Number(/raw pixels (\d+) %/.exec(document.querySelector('#accuracy-chart .pixels-label').textContent)[1]);
        return {
          points,
          pixels,
          selected: Number(document.querySelector('#layer-select').value),
          ownLayer: Number(document.querySelector('#own-layer').value),
          reading: document.querySelector('#features-reading').textContent,
          verdict: document.querySelector('#features-verdict').textContent,
          caption: document.querySelector('#confusion caption').textContent,
        };
      });
      const best = shown.points.indexOf(Math.max(...shown.points));
      assert(shown.selected === best, `the view opened on layer ${shown.selected}, the best is ${best} (${shown.points})`);
      assert(shown.ownLayer === best, `own classes start at layer ${shown.ownLayer}, not the best ${best}`);
      assert(shown.caption.includes(`layer ${best}`), `the confusion matrix shows: ${shown.caption}`);
      assert(/Each point is how often a simple classifier/.test(shown.reading) && /most common category scores \d+ %/.test(shown.reading), `reading: ${shown.reading}`);
      const top = shown.points[best];
      const expected = top < shown.pixels ? 'is below raw pixels' : top > shown.pixels ? 'beats raw pixels' : 'ties with raw pixels';
      // Unless no layer beats guessing, which the verdict then says instead.
      assert(shown.verdict.includes(`layer ${best}`) && (shown.verdict.includes(expected) || shown.verdict.includes('no better than always guessing')), `best ${top} %, pixels ${shown.pixels} %: the verdict says "${shown.verdict}"`);
      await page.screenshot({ path: join(RESULTS, 'features-best-layer.png'), fullPage: true });
      shared.notes.push(`best layer ${best} (${top} %), raw pixels ${shown.pixels} %: ${shown.verdict}`);
      assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
    } finally {
      await page.close();
    }
  });
}
