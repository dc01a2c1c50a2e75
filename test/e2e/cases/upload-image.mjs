// An uploaded image (not square, partly transparent) is shown, quantized, and completed with its kept rows.

export function register(test, { shared, assert, waitForState, setSampling, canvasPixels, rowsOf, same, encodePng }) {
  test('an image uploaded through the file input is quantized and completed', async () => {
    const page = shared.page;
    // 24×20 (not square), with transparency: a red disc on a blue gradient, half see-through at the bottom.
    const png = encodePng(24, 20, (x, y) => ((x - 12) ** 2 + (y - 9) ** 2 < 36 ? [220, 30, 30, 255] : [20, 40, 10 * y, y > 14 ? 128 : 255]));
    await page.click('#src-tab-upload');
    await page.setInputFiles('#file-input', { name: 'disc.png', mimeType: 'image/png', buffer: png });
    await page.waitForFunction(() => document.querySelector('#original').width === 24, null, { timeout: 10_000 });
    const [original] = await canvasPixels(page, '#original');
    assert(original.height === 20, `original shown at ${original.width}×${original.height}`);
    const center = (9 * 24 + 12) * 4;
    assert(original.data[center] === 220 && original.data[center + 1] === 30, 'the uploaded pixels are not what was shown');
    await setSampling(page, { keepRows: 14, samples: 1, seed: 3 });
    const [quantized] = await canvasPixels(page, '#quantized');
    const mid = (5 * 16 + 8) * 4; // inside the disc
    assert(quantized.data[mid] > 150 && quantized.data[mid + 1] < 100, `quantized disc pixel is rgb(${quantized.data.slice(mid, mid + 3)})`);
    await page.click('#complete');
    const state = await waitForState(page, 'run', ['done', 'error', 'stopped'], 90_000);
    assert(state === 'done', `run state ${state}: ${await page.textContent('#gen-text')}`);
    const [sample] = await canvasPixels(page, '#samples canvas');
    assert(same(rowsOf(sample, 0, 14), rowsOf(quantized, 0, 14)), 'the kept rows of the uploaded image changed');
  });
}
