// Stop ends a generation mid-way (the partial samples save as partial), and the next run goes to the end.
import { readFileSync } from 'node:fs';

export function register(test, { shared, assert, waitForState, setSampling, canvasPixels }) {
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
}
