// A hub model (pytorch_model.bin) from the local hub server: Cancel mid-download keeps the old model; then it
// loads, shows its download and upload phases, and completes an image.
import { join } from 'node:path';

export function register(test, { shared, assert, waitForState, setSampling, canvasPixels, openDemo, rowsOf, same, unexpected, RESULTS, MODEL }) {
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
}
