// Varied kept rows: sample i keeps i fewer rows, in one batch, each labelled with its rows.
import { join } from 'node:path';

export function register(test, { shared, assert, waitForState, setSampling, canvasPixels, rowsOf, same, RESULTS }) {
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
}
