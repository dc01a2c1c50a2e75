// The Features view on a small gallery: accuracy per layer, the confusion matrix, nearest neighbours.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers.mjs';

/** A smaller gallery for the Features view (its GPU work scales with the images): `perClass` of each of `classes` categories. */
function smallGallery(classes, perClass) {
  const all = JSON.parse(readFileSync(join(repoRoot, 'demo/public/gallery/gallery.json'), 'utf8'));
  const byClass = new Map();
  for (const item of all) byClass.set(item.category, [...(byClass.get(item.category) ?? []), item]);
  return [...byClass.values()].filter((items) => items.length >= perClass).slice(0, classes).flatMap((items) => items.slice(0, perClass));
}

export function register(test, { shared, assert, waitForState, collectErrors, RESULTS }) {
  test('the Features view extracts gallery features, plots accuracy per layer, confusion matrix, neighbours', async () => {
    const gallery = smallGallery(3, 4);
    const page = await shared.page.context().newPage();
    const errors = collectErrors(page);
    try {
      await page.route('**/gallery/gallery.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(gallery) }));
      await page.goto(shared.url);
      const loaded = await waitForState(page, 'model', ['ready', 'error'], 60_000);
      assert(loaded === 'ready', `model state ${loaded}`);
      await page.click('#tab-features');
      await page.click('#extract');
      const state = await waitForState(page, 'features', ['done', 'error'], 150_000);
      assert(state === 'done', `features state ${state}: ${await page.textContent('#features-text')}`);
      const info = await page.evaluate(() => ({
        points: document.querySelectorAll('#accuracy-chart circle').length,
        layers: document.querySelectorAll('#layer-select option').length,
        rows: document.querySelectorAll('#confusion tbody tr').length,
        total: [...document.querySelectorAll('#confusion td')].reduce((s, td) => s + Number(td.textContent || 0), 0),
        text: document.querySelector('#features-text').textContent,
      }));
      // One point per hidden state: the embeddings and each block's output.
      const expected = JSON.parse(readFileSync(join(repoRoot, 'models/emoji-16/config.json'), 'utf8')).n_layer + 1;
      assert(info.points === info.layers && info.layers === expected, `chart has ${info.points} points for ${info.layers} layers (expected ${expected})`);
      assert(info.rows === 3, `confusion matrix has ${info.rows} rows for 3 categories`);
      assert(info.total === gallery.length, `confusion matrix counts ${info.total} images of ${gallery.length}`);
      shared.notes.push(`features (${gallery.length} images): ${info.text}`);
      await page.selectOption('#layer-select', '1');
      await page.click('#nn-gallery button:nth-child(3)');
      const neighbours = await page.$$eval('#nn-results li', (lis) => lis.map((li) => li.textContent));
      assert(neighbours.length === 8, `expected 8 nearest neighbours, got ${neighbours.length}`);
      const sims = neighbours.map((t) => Number(t.split(' ')[0]));
      assert(sims.every((v, i) => Number.isFinite(v) && v <= 1 && (i === 0 || v <= sims[i - 1])), `similarities not sorted: ${sims}`);
      await page.screenshot({ path: join(RESULTS, 'features.png'), fullPage: true });
      assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
    } finally {
      await page.close();
    }
  });
}
