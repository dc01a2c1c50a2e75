// "Teach it a style" on SwiftShader: the CPU defaults, fewer than 8 pictures refused, 8 gallery picks, a 2-step run
// with its progress reaching done and a loss curve of 2 points, the tuned copy and the original completing the
// same prompt with the same seed (kept rows exact in both), Stop during a second run keeping its steps, then Reset
// dropping the copy.
import { join } from 'node:path';

const STEPS = 2;
const KEEP = 12;

/** Waits until document.body.dataset[key] is one of `values`; a timeout names the style view's status and error. */
async function waitForStyle(page, key, values, timeout) {
  try {
    await page.waitForFunction(([k, v]) => v.includes(document.body.dataset[k]), [key, values], { timeout, polling: 100 });
  } catch {
    const said = await page.evaluate(() => ['#style-status', '#style-error', '#style-compare-status'].map((s) => `${s}: ${document.querySelector(s)?.textContent}`).join(' | '));
    throw new Error(`waited ${timeout / 1000} s for ${key} to be ${values.join(' or ')}; the view says ${said}`);
  }
  return page.evaluate((k) => document.body.dataset[k], key);
}

/** Sets an input's value as typing would (the Complete view's inputs are in a hidden tab: no clicks). */
async function setValue(page, selector, value) {
  await page.$eval(selector, (el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

export function register(test, { shared, assert, canvasPixels, rowsOf, same, RESULTS }) {
  test('teach a style: 8 gallery picks, 2 steps with progress and a loss curve, the tuned copy beside the original, reset', async () => {
    const page = shared.page;
    const started = Date.now();
    await page.click('#tab-style');
    // SwiftShader is a CPU adapter: the short defaults, and the note saying why.
    assert(await page.inputValue('#style-steps') === '3' && await page.inputValue('#style-batch') === '2', `CPU defaults: steps ${await page.inputValue('#style-steps')}, batch ${await page.inputValue('#style-batch')}`);
    assert(/runs on the CPU here/.test(await page.textContent('#style-defaults')), `defaults note: ${await page.textContent('#style-defaults')}`);
    assert(await page.isDisabled('#style-compare-complete') && await page.isDisabled('#style-reset'), 'compare and reset must wait for a taught style');

    // Seven pictures are refused beside the button, and nothing runs.
    const picks = page.locator('.style-gallery button');
    for (let i = 0; i < 7; i++) await picks.nth(i).click();
    await page.waitForFunction(() => document.querySelectorAll('#style-images li').length === 7, null, { timeout: 10_000 });
    await page.click('#style-train');
    assert(await waitForStyle(page, 'style', ['invalid'], 5_000) === 'invalid', 'seven pictures should be refused');
    assert(/at least 8 pictures \(7 so far\)/.test(await page.textContent('#style-error')), `error with 7 pictures: ${await page.textContent('#style-error')}`);

    // The eighth by keyboard: the gallery is one Tab stop (the last clicked picture), the arrow keys only move and
    // Enter adds.
    const stop = await page.$$eval('.style-gallery button', (buttons) => buttons.flatMap((b, i) => (b.tabIndex === 0 ? [i] : [])));
    assert(stop.join() === '6', `after clicking the first seven pictures the Tab stops are at ${JSON.stringify(stop)}`);
    await page.focus('.style-gallery button[tabindex="0"]');
    await page.keyboard.press('Home');
    for (let i = 0; i < 7; i++) await page.keyboard.press('ArrowRight');
    assert(await page.evaluate(() => document.activeElement === document.querySelectorAll('.style-gallery button')[7]), 'seven ArrowRight presses should reach the eighth picture');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('#style-images li').length === 8, null, { timeout: 10_000 });
    assert(/^8 pictures\.$/.test(await page.textContent('#style-count')), `count: ${await page.textContent('#style-count')}`);
    // A setting out of range is named beside the button, with its range.
    await page.fill('#style-steps', '0');
    await page.click('#style-train');
    assert(await waitForStyle(page, 'style', ['invalid'], 5_000) === 'invalid', 'steps 0 should be refused');
    assert((await page.textContent('#style-error')) === 'Steps must be a whole number from 1 to 1000, got 0.', `error for steps 0: ${await page.textContent('#style-error')}`);
    await page.fill('#style-steps', String(STEPS));
    await page.fill('#style-batch', '1');
    const trainStarted = Date.now();
    await page.click('#style-train');
    assert(await page.isEnabled('#style-stop'), 'Stop is enabled while the style is taught');
    assert(await page.isDisabled('#style-train') && await page.isDisabled('#complete'), 'Teach and Complete are disabled during the run');
    const state = await waitForStyle(page, 'style', ['trained', 'stopped', 'error'], 150_000);
    assert(state === 'trained', `style run ${state}: ${await page.textContent('#style-status')} ${await page.textContent('#style-error')}`);
    const trainSeconds = (Date.now() - trainStarted) / 1000;
    const progress = await page.$eval('#style-progress', (p) => p.value);
    assert(progress === 1, `the progress bar ends at ${progress}, not full`);
    const status = await page.textContent('#style-status');
    assert(new RegExp(`Done: ${STEPS} steps in [\\d.]+ s\\. Bits per token [\\d.]+ → [\\d.]+`).test(status), `status after the run: ${status}`);
    const points = await page.$eval('#style-curve', (c) => Number(c.dataset.points));
    assert(points === STEPS, `the loss curve has ${points} points, expected ${STEPS}`);
    const curveText = await page.textContent('#style-curve-text');
    const bits = [...curveText.matchAll(/: (\d+\.\d+)/g)].map((m) => Number(m[1]));
    assert(new RegExp(`step ${STEPS} of ${STEPS}`).test(curveText) && bits.length === 2 && bits.every((b) => b > 0 && b < 10), `curve text: ${curveText}`);
    // The curve is drawn: some pixels in the accent color (#3559e0), beside the axis labels.
    const [curve] = await canvasPixels(page, '#style-curve');
    let accent = 0;
    for (let i = 0; i < curve.data.length; i += 4) if (curve.data[i] === 0x35 && curve.data[i + 1] === 0x59 && curve.data[i + 2] === 0xe0) accent++;
    assert(accent > 20, `the loss curve shows ${accent} accent pixels`);

    // The tuned copy and the original complete the Complete view's picked image with the same rows, samples and seed.
    await setValue(page, '#keep-rows', KEEP);
    await setValue(page, '#samples-count', 1);
    await setValue(page, '#seed', 4321);
    await page.$eval('#vary-seed', (el) => (el.checked = false));
    await page.click('#style-compare-complete');
    const compared = await waitForStyle(page, 'styleCompare', ['done', 'error', 'invalid', 'stopped'], 90_000);
    assert(compared === 'done', `comparison ${compared}: ${await page.textContent('#style-compare-status')}`);
    const [original] = await canvasPixels(page, '#style-compare-original canvas');
    const [tuned] = await canvasPixels(page, '#style-compare-tuned canvas');
    const [quantized] = await canvasPixels(page, '#quantized');
    assert(original && tuned && original.width === 16 && tuned.width === 16, 'one 16×16 sample from each model');
    const kept = rowsOf(quantized, 0, KEEP);
    assert(same(rowsOf(original, 0, KEEP), kept) && same(rowsOf(tuned, 0, KEEP), kept), 'both models keep the prompt rows exactly');
    for (const [name, s] of [['original', original], ['tuned', tuned]]) {
      const rest = rowsOf(s, KEEP, 16);
      for (let i = 3; i < rest.length; i += 4) assert(rest[i] === 255, `${name}: a generated pixel is not filled`);
    }
    const differ = !same(rowsOf(original, KEEP, 16), rowsOf(tuned, KEEP, 16));
    assert(/seed 4321/.test(await page.textContent('#style-compare-status')), `compare status: ${await page.textContent('#style-compare-status')}`);
    await page.screenshot({ path: join(RESULTS, 'teach-style.png'), fullPage: true });

    // Stop during a second run: it ends after the step in flight, keeping the steps taken (the copy counts them all).
    await page.fill('#style-steps', '6');
    await page.click('#style-train');
    await page.waitForFunction(() => Number(document.querySelector('#style-curve').dataset.points) >= 1, null, { timeout: 60_000 });
    await page.click('#style-stop');
    assert(await waitForStyle(page, 'style', ['stopped', 'trained', 'error'], 60_000) === 'stopped', `after Stop: ${await page.textContent('#style-status')}`);
    const stoppedText = await page.textContent('#style-status');
    const taken = Number(/^Stopped after (\d) of 6 steps/.exec(stoppedText)?.[1]);
    assert(taken >= 1 && taken < 6 && stoppedText.includes(`has had ${STEPS + taken} steps in all`), `status after Stop: ${stoppedText}`);
    assert(await page.isEnabled('#style-compare-complete'), 'a stopped run keeps the copy to compare');

    // Reset drops the copy: nothing left to compare, Reset itself disabled until the next run.
    await page.click('#style-reset');
    assert(await waitForStyle(page, 'style', ['reset'], 20_000) === 'reset', 'reset');
    assert(await page.isDisabled('#style-compare-complete') && await page.isDisabled('#style-reset'), 'after Reset there is no tuned copy to compare or reset');
    assert((await page.locator('#style-compare canvas').count()) === 0, 'the tuned samples go with the copy');
    assert(await page.isEnabled('#style-train'), 'Teach is enabled again after Reset');
    // At phone width nothing scrolls sideways: the pictures, the settings and the curve wrap or shrink to the card.
    const viewport = page.viewportSize();
    await page.setViewportSize({ width: 390, height: 844 });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.screenshot({ path: join(RESULTS, 'teach-style-390.png'), fullPage: true });
    await page.setViewportSize(viewport);
    assert(wide <= 390, `at 390 px the Teach a style view is ${wide} px wide`);
    assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
    shared.notes.push(`teach a style: ${STEPS} steps of batch 1 in ${trainSeconds.toFixed(1)} s (copy included), bits per token ${bits.join(' → ')}, tuned sample ${differ ? 'differs from' : 'equals'} the original's; case ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await page.click('#tab-complete');
  });
}
