// "Teach it your own classes", fine-tuned: two classes of gallery picks, the whole model fine-tuned for 2 steps
// beside the probe, and both scored on the same held-out pictures (one per class here), with progress to done.
import { join } from 'node:path';

const STEPS = 2;

/** Waits until document.body.dataset.ownFineTune is one of `values`; a timeout names what the card says. */
async function waitForFineTune(page, values, timeout) {
  try {
    await page.waitForFunction((v) => v.includes(document.body.dataset.ownFineTune), values, { timeout, polling: 100 });
  } catch {
    const said = await page.evaluate(() => ['#own-fine-tune-status', '#own-fine-tune-error', '#own-status'].map((s) => `${s}: ${document.querySelector(s)?.textContent}`).join(' | '));
    throw new Error(`waited ${timeout / 1000} s for the fine-tune to be ${values.join(' or ')}; the card says ${said}`);
  }
  return page.evaluate(() => document.body.dataset.ownFineTune);
}

export function register(test, { shared, assert, waitForState, collectErrors, RESULTS }) {
  test('own classes, fine-tuned: two classes, 2 steps, the probe and the fine-tuned model scored on the same held-out pictures', async () => {
    const page = await shared.page.context().newPage();
    const errors = collectErrors(page);
    try {
      const started = Date.now();
      await page.goto(shared.url);
      assert(await waitForState(page, 'model', ['ready', 'error'], 60_000) === 'ready', 'model did not load');
      await page.click('#tab-features');
      // Too few pictures: the probe's rules, said beside the fine-tune.
      await page.click('#own-fine-tune');
      assert(await waitForFineTune(page, ['invalid'], 5_000) === 'invalid', 'an empty class set should be refused');
      assert(/has no images/.test(await page.textContent('#own-fine-tune-error')), `error: ${await page.textContent('#own-fine-tune-error')}`);
      assert(await page.inputValue('#own-fine-tune-steps') === '3', `CPU default steps: ${await page.inputValue('#own-fine-tune-steps')}`);

      // Three gallery picks per class.
      await page.click('.own-gallery-picks summary');
      const picks = page.locator('.own-gallery button');
      for (const [target, items] of [[0, [0, 1, 2]], [1, [3, 4, 5]]]) {
        await page.selectOption('#own-gallery-target', String(target));
        for (const i of items) await picks.nth(i).click();
      }
      await page.waitForFunction(() => [...document.querySelectorAll('#own-classes .own-count')].map((e) => e.textContent).join() === '3 images,3 images', null, { timeout: 10_000 });

      await page.fill('#own-fine-tune-steps', String(STEPS));
      await page.click('#own-fine-tune');
      const state = await waitForFineTune(page, ['done', 'stopped', 'error'], 150_000);
      assert(state === 'done', `fine-tune ${state}: ${await page.textContent('#own-fine-tune-status')} ${await page.textContent('#own-fine-tune-error')}`);
      const progress = await page.$eval('#own-fine-tune-progress', (p) => p.value);
      assert(progress === 1, `the progress bar ends at ${progress}`);
      const status = await page.textContent('#own-fine-tune-status');
      assert(new RegExp(`^Fine-tuned ${STEPS} steps in [\\d.]+ s, trained on 4 pictures\\.$`).test(status), `status: ${status}`);
      const result = await page.$eval('#own-fine-tune-result', (p) => ({ text: p.textContent, ...p.dataset }));
      assert(result.heldOut === '2', `held out ${result.heldOut} pictures, expected 2 (one of each class of 3)`);
      for (const key of ['probe', 'fineTuned']) assert(['0', '1', '2'].includes(result[key]), `${key} right: ${result[key]}`);
      const expected = `On the same 2 held-out pictures: the probe names ${result.probe} of 2 (${Math.round(50 * Number(result.probe))} %), the fine-tuned model ${result.fineTuned} of 2 (${Math.round(50 * Number(result.fineTuned))} %).`;
      assert(result.text === expected, `result: ${result.text}`);
      assert(await page.isEnabled('#own-fine-tune') && await page.isEnabled('#own-train') && await page.isDisabled('#own-fine-tune-stop'), 'the buttons are back after the run');
      await page.locator('#own-classes').screenshot({ path: join(RESULTS, 'own-classes-fine-tune.png') });
      assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
      shared.notes.push(`own classes fine-tuned: ${status} ${result.text} (case ${((Date.now() - started) / 1000).toFixed(0)} s)`);
    } finally {
      await page.close();
    }
  });
}
