// Local model folders through the folder input (safetensors, pytorch_model.bin) and dropped files (sharded
// .bin); a broken folder is refused with the reason and the old model kept.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function register(test, { shared, assert, waitForState, MODEL, MODELS_DIR, HUB_FIXTURES }) {
  test('local model folders load through the folder input (safetensors, pytorch_model.bin) and by drop (sharded .bin); a broken one is refused with the reason', async () => {
    const page = shared.page;
    const dir = join(MODELS_DIR, MODEL);
    // The folder input takes directories: make two broken model folders.
    const tmp = mkdtempSync(join(tmpdir(), 'imagegpt-folders-'));
    const folder = (name, files) => {
      mkdirSync(join(tmp, name));
      for (const [f, bytes] of Object.entries(files)) writeFileSync(join(tmp, name, f), bytes);
      return join(tmp, name);
    };
    const read = (f) => readFileSync(join(dir, f));
    const weights = read('model.safetensors');
    const incomplete = folder('incomplete', { 'config.json': read('config.json') });
    const truncated = folder('truncated', { 'config.json': read('config.json'), 'model.safetensors': weights.subarray(0, weights.length - 1000), 'preprocessor_config.json': read('preprocessor_config.json') });
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.setInputFiles('#folder-input', incomplete);
    const lacking = await waitForState(page, 'model', ['ready', 'error'], 30_000);
    const lackingText = await page.textContent('#model-error');
    assert(lacking === 'error' && (await page.isVisible('#model-error')) && /preprocessor_config\.json/.test(lackingText) && /keeps using/.test(lackingText), `a folder with only config.json: ${lacking}: ${lackingText}`);
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.setInputFiles('#folder-input', truncated);
    const broken = await waitForState(page, 'model', ['ready', 'error'], 60_000);
    rmSync(tmp, { recursive: true, force: true }); // the page reads the files lazily: only now
    const brokenText = await page.textContent('#model-error');
    assert(broken === 'error' && /could not be loaded|cannot be used|damaged|missing/.test(brokenText) && /keeps using/.test(brokenText), `a truncated model.safetensors: ${broken}: ${brokenText}`);
    assert(/Could not load/.test(await page.textContent('#load-text')), `the load line after a failed load: ${await page.textContent('#load-text')}`);
    assert(!(await page.isDisabled('#unconditional')), 'after a failed load the previous model is not usable');
    // A folder holding pytorch_model.bin (the hub fixture) through the folder input...
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.setInputFiles('#folder-input', join(HUB_FIXTURES, 'bin'));
    const bin = await waitForState(page, 'model', ['ready', 'error'], 60_000);
    const binText = await page.textContent('#load-text');
    assert(await page.isHidden('#model-error'), 'the error of the broken folder stays after a good folder loaded');
    assert(bin === 'ready' && binText.includes('local: bin') && binText.includes('4×4'), `a local folder with pytorch_model.bin: ${bin}: ${binText}`);
    // ...and the sharded one dropped on the page as files (a test cannot make a dropped directory entry).
    const sharded = join(HUB_FIXTURES, 'bin-sharded');
    const dropped = readdirSync(sharded).map((name) => ({ name, bytes: [...readFileSync(join(sharded, name))] }));
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.evaluate((files) => {
      const transfer = new DataTransfer();
      for (const f of files) transfer.items.add(new File([new Uint8Array(f.bytes)], f.name));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, dropped);
    const drop = await waitForState(page, 'model', ['ready', 'error'], 60_000);
    const dropText = await page.textContent('#load-text');
    assert(drop === 'ready' && dropText.includes('local: dropped files') && dropText.includes('4×4'), `sharded .bin files dropped on the page: ${drop}: ${dropText}`);
    await page.evaluate(() => (document.body.dataset.model = 'stale'));
    await page.setInputFiles('#folder-input', join(MODELS_DIR, MODEL));
    const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
    const text = await page.textContent('#load-text');
    assert(state === 'ready' && text.includes(`local: ${MODEL}`), `local folder: ${state}: ${text}`);
    assert(shared.errors.length === 0, `console errors:\n${shared.errors.join('\n')}`);
  });
}
