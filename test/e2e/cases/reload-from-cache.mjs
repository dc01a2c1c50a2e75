// A reload opens the model from the Cache Storage.

export function register(test, { shared, assert, waitForState }) {
  test('a reload opens the model from the Cache Storage', async () => {
    const page = shared.page;
    await page.reload();
    const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
    assert(state === 'ready', `model state ${state}`);
    const text = await page.textContent('#load-text');
    assert(text.includes('from the browser cache'), `second load did not come from the cache: ${text}`);
  });
}
