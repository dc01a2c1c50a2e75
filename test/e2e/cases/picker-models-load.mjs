// Every shipped model the picker lists loads, at its own image size.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function register(test, { shared, assert, waitForState, MODELS_DIR }) {
  test('every model the picker lists loads (the shipped ones, by their image size)', async () => {
    const page = shared.page;
    const shipped = await page.$$eval('#model-select option', (os) => os.filter((o) => o.value.startsWith('shipped:')).map((o) => o.value));
    const folders = readdirSync(MODELS_DIR).filter((d) => existsSync(join(MODELS_DIR, d, 'model.safetensors')));
    assert(shipped.length === folders.length, `the picker lists ${shipped.join(', ')}; models/ holds ${folders.join(', ')}`);
    for (const value of shipped) {
      const { size } = JSON.parse(readFileSync(join(MODELS_DIR, value.slice('shipped:'.length), 'preprocessor_config.json'), 'utf8'));
      await page.evaluate(() => (document.body.dataset.model = 'stale'));
      await page.selectOption('#model-select', value);
      const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
      const text = await page.textContent('#load-text');
      assert(state === 'ready' && text.includes(`${size.width}×${size.height}`), `${value}: ${state}: ${text}`);
    }
  });
}
