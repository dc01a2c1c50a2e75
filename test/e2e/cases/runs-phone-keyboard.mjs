// The demo on a phone (390×844: no sideways scroll, Complete on screen without scrolling past the gallery,
// the gallery's last row whole, the Features chart inside its card) and by keyboard alone (the gallery one
// Tab stop with arrow keys, Enter runs, focus on Stop, Escape stops, focus back on Complete; a visible focus
// ring of at least 3:1; drawing with the keys).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readyOnComplete } from './runs-history.mjs';

/** The focused element's ring: its width, style, and contrast against the background it is drawn on. */
function focusRing(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const cs = getComputedStyle(el);
    const rgb = (c) => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    // A ring drawn outside lies on the parent's background; one drawn inside (negative offset), on the element's.
    let node = parseFloat(cs.outlineOffset) < 0 ? el : el.parentElement;
    let background = [255, 255, 255];
    for (; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) {
        background = c.slice(0, 3);
        break;
      }
    }
    const a = lum(rgb(cs.outlineColor));
    const b = lum(background);
    return { id: el.id || el.className, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth), contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
  });
}

export function register(test, context) {
  const { shared, assert, waitForState, setSampling, canvasPixels, same, RESULTS, docsScreenshot, repoRoot } = context;

  test('keyboard only: the gallery is one Tab stop with arrow keys; Enter runs, focus on Stop, Escape stops, focus back; a 3:1 focus ring; drawing with keys', async () => {
    const page = shared.page;
    await readyOnComplete(page, context);
    await setSampling(page, { keepRows: 1, samples: 8, seed: 21 });
    const rings = [];
    await page.focus('#src-tab-gallery');
    await page.keyboard.press('Tab');
    const first = await page.evaluate(() => [...document.querySelectorAll('#gallery button')].indexOf(document.activeElement));
    assert(first === 1, `Tab from the source tabs lands on gallery item ${first}, not the selected one (1)`);
    rings.push(await focusRing(page));
    const [before] = await canvasPixels(page, '#quantized');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    const columns = await page.evaluate(() => {
      const b = [...document.querySelectorAll('#gallery button')];
      return b.filter((x) => x.offsetTop === b[0].offsetTop).length;
    });
    const moved = await page.evaluate(() => {
      const b = [...document.querySelectorAll('#gallery button')];
      return { focused: b.indexOf(document.activeElement), selected: b.findIndex((x) => x.getAttribute('aria-selected') === 'true'), stops: b.filter((x) => x.tabIndex === 0).length, role: document.querySelector('#gallery').getAttribute('role') };
    });
    assert(moved.focused === 2 + columns && moved.selected === moved.focused && moved.stops === 1 && moved.role === 'listbox',
      `after ArrowRight, ArrowDown (${columns} columns): ${JSON.stringify(moved)}`);
    await page.waitForFunction((old) => {
      const c = document.querySelector('#quantized');
      return !document.querySelector('#complete').disabled && Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).some((v, i) => v !== old[i]);
    }, before.data, { timeout: 30_000 });
    // One Tab leaves the gallery; more reach Complete.
    const visited = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => document.activeElement?.id || document.activeElement?.className);
      visited.push(id);
      if (visited.length === 1) rings.push(await focusRing(page));
      if (id === 'complete') break;
    }
    assert(visited[0] === 'keep-rows' && visited.at(-1) === 'complete' && !visited.includes('thumb'), `Tab order from the gallery: ${visited.join(' → ')}`);
    rings.push(await focusRing(page));
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.body.dataset.run === 'running' && document.activeElement?.id === 'stop', null, { timeout: 10_000 })
      .catch(async () => { throw new Error(`after Enter: run ${await page.evaluate(() => document.body.dataset.run)}, focus on #${await page.evaluate(() => document.activeElement?.id)}`); });
    rings.push(await focusRing(page));
    await page.waitForFunction(() => /^Row (\d+)/.test(document.querySelector('#gen-text').textContent), null, { timeout: 60_000, polling: 20 });
    await page.keyboard.press('Escape');
    const state = await waitForState(page, 'run', ['done', 'error', 'stopped'], 30_000);
    assert(state === 'stopped', `Escape did not stop the run: ${state}: ${await page.textContent('#gen-text')}`);
    await page.waitForFunction(() => document.activeElement?.id === 'complete', null, { timeout: 5_000 })
      .catch(async () => { throw new Error(`after the run focus is on #${await page.evaluate(() => document.activeElement?.id)}, not Complete`); });
    for (const r of rings) {
      assert(r.style !== 'none' && r.width >= 2 && r.contrast >= 3, `the focus ring of ${r.id}: ${r.style} ${r.width}px, contrast ${r.contrast.toFixed(2)}:1`);
    }
    shared.notes.push(`focus ring contrast: ${rings.map((r) => `${r.id} ${r.contrast.toFixed(1)}:1`).join(', ')}`);
    // Drawing by keyboard: End opens Draw, Tab reaches the canvas, Space, arrows, Space paint a line and use it.
    await page.focus('#src-tab-gallery');
    await page.keyboard.press('End');
    await page.keyboard.press('Tab');
    assert((await page.evaluate(() => document.activeElement?.id)) === 'draw-canvas' && (await page.isVisible('#draw-cursor')), 'Tab from the Draw tab does not reach the canvas with a visible cursor');
    await page.click('#draw-clear');
    await page.fill('#draw-color', '#f4b400');
    await page.focus('#draw-canvas');
    await page.keyboard.press('Space');
    for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelector('#original').width === 256, null, { timeout: 30_000 });
    const stroke = await page.evaluate(() => {
      const d = document.querySelector('#original').getContext('2d').getImageData(0, 0, 256, 256).data;
      const at = (x, y) => Array.from(d.slice((y * 256 + x) * 4, (y * 256 + x) * 4 + 3));
      return { start: at(128, 128), end: at(158, 128), off: at(128, 60) };
    });
    const brush = [0xf4, 0xb4, 0x00];
    assert(same(stroke.start, brush) && same(stroke.end, brush) && same(stroke.off, [255, 255, 255]), `the keyboard stroke: ${JSON.stringify(stroke)}`);
    assert(/brush up/.test(await page.textContent('#draw-status')), `the drawing status: ${await page.textContent('#draw-status')}`);
    await page.click('#src-tab-gallery');
    assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
  });

  test('phone 390×844: no sideways scroll, Complete on screen without scrolling, the gallery shows its last row whole, charts inside their card', async () => {
    const page = shared.page;
    await readyOnComplete(page, context);
    await setSampling(page, { keepRows: 14, samples: 2, seed: 8 });
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await page.evaluate(() => window.scrollTo(0, 0));
      const layout = await page.evaluate(() => {
        const complete = document.querySelector('#complete').getBoundingClientRect();
        const hit = document.elementFromPoint(complete.x + complete.width / 2, complete.y + complete.height / 2);
        return {
          scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth, select: document.querySelector('#model-select').getBoundingClientRect().width,
          complete: { top: complete.top, bottom: complete.bottom }, onTop: hit?.id === 'complete', gallery: document.querySelector('#gallery').getBoundingClientRect().bottom,
        };
      });
      assert(layout.scrollWidth === layout.width, `at 390 px the document is ${layout.scrollWidth} px wide (the model picker ${layout.select} px)`);
      assert(layout.complete.top >= 0 && layout.complete.bottom <= 844 && layout.onTop, `Complete is at ${Math.round(layout.complete.top)}–${Math.round(layout.complete.bottom)} px (visible and on top: ${layout.onTop}) with the page not scrolled`);
      await page.screenshot({ path: join(RESULTS, 'runs-390.png') });
      if (docsScreenshot) {
        mkdirSync(join(repoRoot, 'docs'), { recursive: true });
        await page.screenshot({ path: join(repoRoot, 'docs/demo-phone.png') });
      }
      // The gallery scrolled to its end shows its last row whole.
      const last = await page.evaluate(() => {
        const g = document.querySelector('#gallery');
        g.scrollTop = g.scrollHeight;
        const box = g.getBoundingClientRect();
        const b = g.lastElementChild.getBoundingClientRect();
        return { gap: box.bottom - g.clientTop - b.bottom };
      });
      assert(last.gap >= 0, `the gallery's last row is cut by ${-last.gap} px`);
      await page.evaluate(() => (document.querySelector('#gallery').scrollTop = 0));
      // A run from the bottom bar, and its results.
      await page.click('#complete');
      assert((await waitForState(page, 'run', ['done', 'error', 'stopped'], 60_000)) === 'done', `the run on the phone: ${await page.textContent('#gen-text')}`);
      const after = await page.evaluate(() => document.documentElement.scrollWidth);
      assert(after === 390, `after a run the page is ${after} px wide`);
      await page.screenshot({ path: join(RESULTS, 'runs-390-full.png'), fullPage: true });
      // Features: the chart and the confusion matrix box stay inside their card.
      await page.click('#tab-features');
      const features = await page.evaluate(() => {
        const card = document.querySelector('#view-features .card').getBoundingClientRect();
        const inside = (sel) => {
          const r = document.querySelector(sel).getBoundingClientRect();
          return r.left >= card.left - 0.5 && r.right <= card.right + 0.5;
        };
        return { chart: inside('#accuracy-chart'), confusion: inside('#confusion'), width: document.documentElement.scrollWidth };
      });
      assert(features.chart && features.confusion && features.width === 390, `Features at 390 px: ${JSON.stringify(features)}`);
      await page.screenshot({ path: join(RESULTS, 'runs-390-features.png'), fullPage: true });
      await page.click('#tab-complete');
    } finally {
      await page.setViewportSize({ width: 1180, height: 900 });
    }
    await page.screenshot({ path: join(RESULTS, 'runs-1180.png'), fullPage: true });
    assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
  });
}
