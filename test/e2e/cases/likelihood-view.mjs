// The Likelihood view: bits per token and a surprise map for the original and for each completion, and no
// sideways scroll at phone width.
import { join } from 'node:path';

export function register(test, { shared, assert, waitForState, setSampling, canvasPixels, RESULTS }) {
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
}
