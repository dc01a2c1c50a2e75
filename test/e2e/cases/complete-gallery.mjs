// Complete on a gallery image: the kept rows are exact, the new rows filled, the samples differ, the page
// stays responsive, a sample saves as a 256×256 PNG (with --docs-screenshot: the README picture).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Rows kept when completing (of 16): fewer generated rows keep the run short on SwiftShader (the README picture keeps half). */
const KEEP = process.argv.includes('--docs-screenshot') ? 8 : 11;
const SAMPLES = process.argv.includes('--docs-screenshot') ? 4 : 3;

export function register(test, { shared, assert, waitForState, setSampling, canvasPixels, rowsOf, same, RESULTS, docsScreenshot, repoRoot }) {
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
}
