// Run history (each run a card with the prompt and settings it started from; the prompt locked while it
// runs; kept across model switches; Clear all) and errors shown beside the control that caused them.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The shared page on the Complete view with the shipped model loaded and a gallery image as the prompt. */
export async function readyOnComplete(page, { MODEL, waitForState }, galleryIndex = 2) {
  await page.click('#tab-complete');
  if ((await page.inputValue('#model-select')) !== `shipped:${MODEL}` || (await page.evaluate(() => document.body.dataset.model)) !== 'ready') {
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.selectOption('#model-select', `shipped:${MODEL}`);
    await waitForState(page, 'model', ['ready'], 60_000);
  }
  await page.click('#src-tab-gallery');
  await page.click(`#gallery button:nth-child(${galleryIndex})`);
  await page.waitForFunction((n) => document.querySelector(`#gallery button:nth-child(${n})`).getAttribute('aria-selected') === 'true'
    && document.querySelector('#quantized').width > 1 && !document.querySelector('#complete').disabled, galleryIndex, { timeout: 10_000 });
}

/** The newest history card's data-* fields and its shown values. */
function newestCard(page) {
  return page.evaluate(() => {
    const card = document.querySelector('#history .run-card');
    if (!card) return null;
    const shown = Object.fromEntries([...card.querySelectorAll('dd')].map((dd) => [dd.dataset.field, dd.textContent]));
    const canvas = card.querySelector('.run-prompt canvas');
    const prompt = canvas ? Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data) : null;
    return { data: { ...card.dataset }, shown, prompt, samples: card.querySelectorAll('.run-samples canvas').length, heading: card.querySelector('h3').textContent };
  });
}

export function register(test, context) {
  const { shared, assert, waitForState, setRange, setSampling, canvasPixels, encodePng, same, RESULTS, MODEL, MODELS_DIR } = context;

  test('run history: each card holds the settings its run started with; the prompt is locked mid-run; kept across model switches; Clear all', async () => {
    const page = shared.page;
    await readyOnComplete(page, context);
    if (!(await page.isDisabled('#history-clear'))) await page.click('#history-clear');
    assert((await page.locator('#history .run-card').count()) === 0, 'Clear all left cards');
    await setSampling(page, { keepRows: 12, samples: 2, seed: 4321 });
    await setRange(page, '#temperature', 0.8);
    await setRange(page, '#top-k', 20);
    const [prompt] = await canvasPixels(page, '#quantized');
    const [original] = await canvasPixels(page, '#original');
    // Start the run and, in the same task, try to change the prompt three ways: a gallery click, a dropped image, the rows slider.
    const png = [...encodePng(16, 16, () => [10, 200, 30, 255])];
    const during = await page.evaluate((bytes) => {
      document.querySelector('#complete').click();
      const running = document.body.dataset.run;
      document.querySelector('#gallery button:nth-child(6)').click();
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'green.png', { type: 'image/png' }));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      return {
        running,
        locked: ['#keep-rows', '#samples-count', '#temperature', '#top-k', '#seed', '#file-input', '#gallery button:nth-child(6)'].filter((s) => !document.querySelector(s).disabled),
        note: !document.querySelector('#lock-note').hidden,
      };
    }, png);
    assert(during.running === 'running', `the run did not start: ${during.running}`);
    assert(during.locked.length === 0 && during.note, `during the run these stay changeable: ${during.locked.join(', ')}; lock note shown: ${during.note}`);
    await page.screenshot({ path: join(RESULTS, 'runs-locked.png') });
    const state = await waitForState(page, 'run', ['done', 'error', 'stopped'], 90_000);
    assert(state === 'done', `run state ${state}: ${await page.textContent('#gen-text')}`);
    // Nothing became the prompt mid-run: not the clicked thumbnail, not the dropped file.
    assert(same((await canvasPixels(page, '#quantized'))[0].data, prompt.data), 'the prompt changed during the run');
    assert(same((await canvasPixels(page, '#original'))[0].data, original.data), 'the original changed during the run');
    assert((await page.getAttribute('#gallery button:nth-child(6)', 'aria-selected')) === 'false', 'the thumbnail clicked mid-run was selected');
    const card = await newestCard(page);
    assert(card, 'no history card after the run');
    assert(card.data.model === MODEL && card.data.keepRows === '12' && card.data.samples === '2' && card.data.temperature === '0.8' && card.data.topK === '20' && card.data.seed === '4321' && card.data.outcome === 'done',
      `the card's fields: ${JSON.stringify(card.data)}`);
    assert(card.shown.model === MODEL && card.shown['rows-kept'] === '12 of 16' && card.shown.samples === '2' && card.shown.temperature === '0.80' && card.shown['top-k'] === '20' && card.shown.seed === '4321',
      `the card shows: ${JSON.stringify(card.shown)}`);
    assert(card.samples === 2 && same(card.prompt, prompt.data), 'the card\'s prompt thumbnail is not the prompt the run started from (or its samples are missing)');
    assert(/Run \d+: emoji|Run \d+: /.test(await page.textContent('#run-summary')) && /seed 4321/.test(await page.textContent('#run-summary')), `summary: ${await page.textContent('#run-summary')}`);

    // A second run with "new seed each run": the field then shows the next seed, the card the one used.
    await setSampling(page, { keepRows: 15, samples: 1 });
    await page.setChecked('#vary-seed', true);
    await page.fill('#seed', '777');
    await page.click('#complete');
    assert((await waitForState(page, 'run', ['done', 'error', 'stopped'], 60_000)) === 'done', 'the second run failed');
    const second = await newestCard(page);
    assert(second.data.seed === '777' && second.shown.seed === '777' && second.shown['rows-kept'] === '15 of 16', `the second card: ${JSON.stringify(second.shown)}`);
    assert((await page.inputValue('#seed')) === '778' && /777/.test(await page.textContent('#last-seed')), `the seed field shows ${await page.inputValue('#seed')}, the last-seed note ${await page.textContent('#last-seed')}`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#history .run-card:first-child button')]);
    assert(/seed777/.test(download.suggestedFilename()) && readFileSync(await download.path()).subarray(1, 4).toString() === 'PNG', `the card saved ${download.suggestedFilename()}`);
    await page.screenshot({ path: join(RESULTS, 'runs-history.png'), fullPage: true });

    // Another model and back: the cards stay, labelled with the model that made them.
    const other = await page.$$eval('#model-select option', (os, m) => os.map((o) => o.value).find((v) => v.startsWith('shipped:') && v !== `shipped:${m}`), MODEL);
    if (other) {
      await page.evaluate(() => (document.body.dataset.model = 'stale'));
      await page.selectOption('#model-select', other);
      assert((await waitForState(page, 'model', ['ready', 'error'], 60_000)) === 'ready', `${other} did not load`);
      assert((await page.locator('#history .run-card').count()) === 2, 'a model switch dropped history cards');
      await readyOnComplete(page, context);
    }
    assert((await page.locator('#history .run-card').count()) === 2, 'the history does not hold both runs');
    await page.click('#history-clear');
    assert((await page.locator('#history .run-card').count()) === 0 && (await page.isDisabled('#history-clear')), 'Clear all did not empty the history');
    assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
  });

  test('errors beside their controls: an unreadable upload (named, no stale prompt), a bad seed, a broken config.json (which field), cleared on success', async () => {
    const page = shared.page;
    await readyOnComplete(page, context);
    // An upload that is not an image: the message is beside the upload control, names the file, and the old prompt is gone.
    await page.click('#src-tab-upload');
    await page.setInputFiles('#file-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
    await page.waitForSelector('#upload-error:not([hidden])', { timeout: 10_000 });
    const upload = await page.textContent('#upload-error');
    assert(/"notes\.txt"/.test(upload) && /not an image|cannot read/.test(upload) && /PNG/.test(upload), `the upload error: ${upload}`);
    const zone = await page.locator('.dropzone').boundingBox();
    const box = await page.locator('#upload-error').boundingBox();
    assert(box.y >= zone.y + zone.height - 1 && box.y - (zone.y + zone.height) < 40 && (await page.getAttribute('#upload-error', 'role')) === 'alert',
      `the upload error is ${Math.round(box.y - zone.y - zone.height)} px below the upload control`);
    assert((await page.isDisabled('#complete')) && (await page.evaluate(() => document.querySelector('#quantized').width)) === 1,
      'after an unreadable upload the previous image is still the prompt');
    await page.screenshot({ path: join(RESULTS, 'error-upload.png') });
    // A good file clears it.
    await page.setInputFiles('#file-input', { name: 'dot.png', mimeType: 'image/png', buffer: encodePng(8, 8, (x, y) => (x + y < 8 ? [200, 20, 20, 255] : [255, 255, 255, 255])) });
    await page.waitForFunction(() => document.querySelector('#quantized').width === 16 && !document.querySelector('#complete').disabled, null, { timeout: 10_000 });
    assert(await page.isHidden('#upload-error'), 'the upload error stays after a good upload');

    // A seed out of range: said beside the seed, nothing runs; a good seed clears it.
    await page.setChecked('#vary-seed', false);
    await page.fill('#seed', '-5');
    await page.click('#complete');
    await page.waitForSelector('#seed-error:not([hidden])', { timeout: 5_000 });
    assert(/whole number from 0/.test(await page.textContent('#seed-error')) && (await page.evaluate(() => document.activeElement?.id)) === 'seed', `seed error: ${await page.textContent('#seed-error')}`);
    await page.fill('#seed', '5');
    assert(await page.isHidden('#seed-error'), 'the seed error stays after a good seed');

    // Broken config.json in a local folder: damaged JSON, then a bad field. Plain words, not the parser's text.
    const dir = join(MODELS_DIR, MODEL);
    const tmp = mkdtempSync(join(tmpdir(), 'imagegpt-configs-'));
    const folder = (name, config) => {
      mkdirSync(join(tmp, name));
      writeFileSync(join(tmp, name, 'config.json'), config);
      for (const f of ['preprocessor_config.json', 'model.safetensors']) writeFileSync(join(tmp, name, f), readFileSync(join(dir, f)));
      return join(tmp, name);
    };
    const good = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    try {
      const cases = [
        { name: 'cut-config', config: JSON.stringify(good).slice(0, 40), want: /config\.json is damaged/, field: null },
        { name: 'bad-field', config: JSON.stringify({ ...good, n_head: 'four' }), want: /"n_head"/, field: 'n_head' },
      ];
      for (const c of cases) {
        await page.evaluate(() => (document.body.dataset.model = 'stale'));
        await page.setInputFiles('#folder-input', folder(c.name, c.config));
        const state = await waitForState(page, 'model', ['ready', 'error'], 30_000);
        const title = await page.textContent('#model-error-title');
        const advice = await page.textContent('#model-error-advice');
        assert(state === 'error' && (await page.isVisible('#model-error')) && c.want.test(title + advice), `${c.name}: ${state}: ${title} ${advice}`);
        assert(!/SyntaxError|Unexpected|JSON\.parse|position \d/.test(title + advice), `${c.name}: the parser's text is shown: ${title} ${advice}`);
        if (c.field) assert(/must be an integer/.test(advice) && /Fix that field/.test(advice), `${c.name}: advice ${advice}`);
        assert(/keeps using/.test(advice), `${c.name}: does not say which model stays in use: ${advice}`);
        const picker = await page.locator('#model-select').boundingBox();
        const panel = await page.locator('#model-error').boundingBox();
        assert(panel.y >= picker.y && panel.y - (picker.y + picker.height) < 120, `${c.name}: the error is ${Math.round(panel.y - picker.y - picker.height)} px below the picker`);
        await page.screenshot({ path: join(RESULTS, `error-${c.name}.png`) });
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.selectOption('#model-select', `shipped:${MODEL}`);
    assert((await waitForState(page, 'model', ['ready', 'error'], 60_000)) === 'ready', 'the shipped model did not load again');
    assert(await page.isHidden('#model-error'), 'the config error stays after a model loaded');
    assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
  });
}
