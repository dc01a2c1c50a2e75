// The Attention view: each head's weights over earlier pixels for a clicked (or keyboard-picked) pixel, per
// layer; changing the layer redraws without computing again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers.mjs';

/** Layers of the shipped emoji-16, the model the shared page has loaded. */
const EMOJI16_LAYERS = JSON.parse(readFileSync(join(repoRoot, 'models/emoji-16/config.json'), 'utf8')).n_layer;

export function register(test, { shared, assert, canvasPixels, same, RESULTS }) {
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
    // The selector offers one entry per layer of emoji-16; the middle one, floor((layers − 1) / 2) counted from 0, is chosen.
    const layers = await page.$$eval('#attention-layer option', (options) => options.length);
    assert(layers === EMOJI16_LAYERS, `the layer selector offers ${layers} layers; models/emoji-16 has ${EMOJI16_LAYERS}`);
    const middleIndex = Math.floor((layers - 1) / 2);
    // Click the middle pixel (row 9, column 9 counted from 1): the middle layer is shown.
    const box = await page.locator('#attention-image').boundingBox();
    await page.mouse.click(box.x + box.width * (8.5 / 16), box.y + box.height * (8.5 / 16));
    await done();
    assert(/row 9, column 9/.test(await page.textContent('#attention-query')), `query: ${await page.textContent('#attention-query')}`);
    assert((await page.inputValue('#attention-layer')) === String(middleIndex), `default layer ${await page.inputValue('#attention-layer')}, expected the middle one (index ${middleIndex} of ${layers})`);
    const middle = await read();
    check(middle, 8 * 16 + 8, middleIndex + 1);
    const computed = await page.textContent('#attention-text');
    // Another layer, the last: redrawn from the same row (no new computation), and different maps.
    await page.selectOption('#attention-layer', String(layers - 1));
    await page.waitForFunction((last) => document.querySelector('#attention-heads').dataset.layer === last, String(layers - 1), { timeout: 5_000 });
    const last = await read();
    check(last, 8 * 16 + 8, layers);
    assert(await page.evaluate(() => document.body.dataset.attention) === 'done' && (await page.textContent('#attention-text')) === computed, 'changing the layer computed the row again');
    assert(last.some((e, h) => !same(e.pixels, middle[h].pixels)), `layers ${middleIndex + 1} and ${layers} draw identical maps`);
    await page.screenshot({ path: join(RESULTS, 'attention.png'), fullPage: true });
    // Keyboard: the cursor moves one pixel left, Enter picks it (a new query is computed).
    await page.focus('#attention-image');
    await page.keyboard.press('ArrowLeft');
    assert(await page.isVisible('#attention-cursor') && /Cursor at row 9, column 8/.test(await page.textContent('#attention-query')), `cursor: ${await page.textContent('#attention-query')}`);
    await page.keyboard.press('Enter');
    await done();
    check(await read(), 8 * 16 + 7, layers);
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
}
