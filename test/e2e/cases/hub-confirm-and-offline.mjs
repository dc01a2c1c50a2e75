// A large hub download asks first (Escape or Cancel keep the model; Download is remembered); an unreachable
// hub says so beside the picker, and Retry loads.
import { join } from 'node:path';
import { freePort } from '../helpers.mjs';
import { startHubServer } from '../../helpers/hub-server.mjs';

export function register(test, { assert, waitForState, openDemo, unexpected, RESULTS, MODEL, HUB_FIXTURES }) {
  test('a large hub download asks first (Escape or Cancel keeps the model; Download is remembered); an unreachable hub says so, and Retry loads', async () => {
    // The hub address points at a port nothing listens on, until the hub server is started there.
    const port = await freePort();
    const demo = await openDemo({ hub: `http://127.0.0.1:${port}`, hubModels: 'test-org/tiny-bin' });
    const { page } = demo;
    let hub = null;
    try {
      // imagegpt-medium: 1.86 GB asks first; keyboard: focus on Download, Escape cancels.
      await page.selectOption('#model-select', 'hub:openai/imagegpt-medium');
      await waitForState(page, 'model', ['confirm'], 5_000);
      const ask = await page.textContent('#download-confirm');
      assert(/imagegpt-medium/.test(ask) && /1\.86 GB/.test(ask), `the confirmation says: ${ask}`);
      assert((await page.evaluate(() => document.activeElement?.id)) === 'download-yes', 'the Download button does not have the focus');
      await page.screenshot({ path: join(RESULTS, 'hub-confirm.png') });
      await page.keyboard.press('Escape');
      assert(await page.isHidden('#download-confirm'), 'Escape did not close the confirmation');
      assert((await page.inputValue('#model-select')) === `shipped:${MODEL}`, `after Escape the picker shows ${await page.inputValue('#model-select')}`);
      // Again, then Tab to Cancel and Enter.
      await page.selectOption('#model-select', 'hub:openai/imagegpt-medium');
      await waitForState(page, 'model', ['confirm'], 5_000);
      await page.keyboard.press('Tab');
      assert((await page.evaluate(() => document.activeElement?.id)) === 'download-no', 'Tab from Download does not reach Cancel');
      await page.keyboard.press('Enter');
      await waitForState(page, 'model', ['ready'], 5_000);
      assert(!(await page.isDisabled('#unconditional')), 'after Cancel the loaded model is not usable');

      // Nothing listens: the hub is unreachable.
      await page.evaluate(() => (document.body.dataset.model = 'stale'));
      await page.selectOption('#model-select', 'hub:test-org/tiny-bin');
      const state = await waitForState(page, 'model', ['offline', 'error', 'ready'], 30_000);
      const panel = (await page.textContent('#hub-error')).replace(/\s+/g, ' ');
      assert(state === 'offline' && (await page.isVisible('#hub-error')), `unreachable hub: ${state}: ${await page.textContent('#load-text')}`);
      assert(/Can't reach the Hugging Face hub — check your connection/.test(panel) && (await page.isVisible('#hub-retry')), `the message: ${panel}`);
      // Beside the picker (just under it), announced as an alert.
      const picker = await page.locator('#model-select').boundingBox();
      const errorBox = await page.locator('#hub-error').boundingBox();
      assert(errorBox.y >= picker.y && errorBox.y - (picker.y + picker.height) < 120 && (await page.getAttribute('#hub-error', 'role')) === 'alert',
        `the hub error is ${Math.round(errorBox.y - picker.y - picker.height)} px below the model picker (role ${await page.getAttribute('#hub-error', 'role')})`);
      assert(!(await page.isDisabled('#unconditional')), 'after the failed load the previous model is not usable');
      await page.screenshot({ path: join(RESULTS, 'hub-unreachable.png') });

      hub = await startHubServer({ port });
      await page.evaluate(() => (document.body.dataset.model = 'stale'));
      await page.click('#hub-retry');
      const retried = await waitForState(page, 'model', ['ready', 'error', 'offline'], 60_000);
      const text = await page.textContent('#load-text');
      assert(retried === 'ready' && text.includes('test-org/tiny-bin') && (await page.isHidden('#hub-error')), `Retry: ${retried}: ${text}`);
      assert(!hub.log.some((r) => r.path.includes('imagegpt-medium')), 'a cancelled download still asked the hub for imagegpt-medium');
      // Download confirmed: imagegpt-small is served as the tiny fixture. The answer is remembered: no second question.
      hub.addRepo('openai/imagegpt-small', join(HUB_FIXTURES, 'bin'));
      await page.selectOption('#model-select', 'hub:openai/imagegpt-small');
      await waitForState(page, 'model', ['confirm'], 5_000);
      assert(/332 MB/.test(await page.textContent('#download-confirm')), 'the confirmation for imagegpt-small does not say 332 MB');
      await page.keyboard.press('Enter');
      const small = await waitForState(page, 'model', ['ready', 'error', 'offline'], 60_000);
      assert(small === 'ready' && (await page.textContent('#load-text')).includes('openai/imagegpt-small'), `after Download: ${small}: ${await page.textContent('#load-text')}`);
      await page.selectOption('#model-select', `shipped:${MODEL}`);
      await waitForState(page, 'model', ['ready'], 60_000);
      await page.evaluate(() => {
        document.body.dataset.model = 'stale';
        new MutationObserver(() => document.body.dataset.model === 'confirm' && (window.__asked = true)).observe(document.body, { attributes: true });
      });
      await page.selectOption('#model-select', 'hub:openai/imagegpt-small');
      const again = await waitForState(page, 'model', ['ready', 'error', 'offline'], 60_000);
      assert(again === 'ready' && !(await page.evaluate(() => window.__asked === true)), `choosing imagegpt-small again asked again or failed: ${again}`);
      assert(unexpected(demo.errors).length === 0, `console errors:\n${unexpected(demo.errors).join('\n')}`);
    } finally {
      await demo.close();
      await hub?.close();
    }
  });
}
