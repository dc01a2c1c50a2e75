// Without WebGPU (no adapter, or no navigator.gpu at all) the page says so plainly and disables the buttons.
import { join } from 'node:path';
import { launchChromium } from '../helpers.mjs';

export function register(test, { shared, assert, waitForState, collectErrors, RESULTS }) {
  async function noWebGpuNotice(browser, initScript) {
    const context = await browser.newContext();
    if (initScript) await context.addInitScript(initScript);
    const page = await context.newPage();
    const errors = collectErrors(page);
    try {
      await page.goto(shared.url);
      const state = await waitForState(page, 'model', ['no-webgpu', 'ready', 'error'], 30_000);
      assert(state === 'no-webgpu', `without WebGPU the model state is ${state}`);
      assert(await page.isVisible('#no-webgpu'), 'the no-WebGPU notice is hidden');
      assert(await page.isDisabled('#unconditional'), 'generation buttons are enabled without WebGPU');
      assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
      return { page, notice: await page.textContent('#no-webgpu'), close: () => context.close() };
    } catch (e) {
      await context.close();
      throw e;
    }
  }

  test('without WebGPU the page says so plainly (no adapter, and no navigator.gpu at all)', async () => {
    const browser = await launchChromium({ webgpu: false });
    try {
      // Chromium without --enable-unsafe-webgpu on a GPU-less machine: navigator.gpu, but no adapter.
      const noAdapter = await noWebGpuNotice(browser);
      assert(/no GPU adapter/.test(noAdapter.notice) && /chrome:\/\/flags/.test(noAdapter.notice), `notice: ${noAdapter.notice}`);
      await noAdapter.page.screenshot({ path: join(RESULTS, 'no-webgpu.png') });
      await noAdapter.close();
      // A browser without WebGPU at all (older Firefox or Safari): navigator.gpu is undefined.
      const noApi = await noWebGpuNotice(browser, () => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
      assert(/does not offer WebGPU/.test(noApi.notice) && /Chrome or Edge 113/.test(noApi.notice) && /Safari 26/.test(noApi.notice), `notice: ${noApi.notice}`);
      await noApi.close();
    } finally {
      await browser.close();
    }
  });
}
