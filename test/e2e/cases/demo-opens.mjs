// The first case (it opens the shared page every later case uses): the demo loads the shipped model in its
// worker, the page's main thread asks for no WebGPU device, and a missing model file is a plain 404.

export function register(test, { shared, assert, waitForState, MODEL }) {
  test('the demo opens and loads the 16×16 model in its worker', async () => {
    const page = shared.page;
    await page.goto(shared.url);
    const state = await waitForState(page, 'model', ['ready', 'error', 'no-webgpu'], 60_000);
    assert(state === 'ready', `model state ${state}: ${await page.textContent('#load-text')}`);
    const text = await page.textContent('#load-text');
    assert(text.includes(MODEL) && text.includes('16×16'), `load status: ${text}`);
    const workers = page.workers().map((w) => w.url());
    assert(workers.some((u) => u.includes('worker')), `expected the model worker, page workers: ${JSON.stringify(workers)}`);
    // Asked from Node: the browser would log the 404 as a console error.
    const missing = (await fetch(new URL(`models/${MODEL}/missing.json`, shared.url))).status;
    assert(missing === 404, `a missing model file answers ${missing}, not 404`);
    const calls = await page.evaluate(() => window.__e2e.requestDevice);
    assert(calls === 0, `the page's main thread requested ${calls} WebGPU device(s): the model must run in the worker`);
  });
}
