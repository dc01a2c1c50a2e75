// Keyboard: arrow keys switch the view tabs, Enter picks a gallery image, End opens Draw; a drawn stroke
// becomes the quantized prompt.

export function register(test, { shared, assert }) {
  test('keyboard: arrow keys switch tabs, Enter picks a gallery image; a drawing becomes the prompt', async () => {
    const page = shared.page;
    await page.focus('#tab-complete');
    await page.keyboard.press('ArrowRight');
    assert((await page.getAttribute('#tab-features', 'aria-selected')) === 'true' && (await page.isVisible('#view-features')), 'ArrowRight did not open Features');
    await page.keyboard.press('ArrowLeft');
    assert(await page.isVisible('#view-complete'), 'ArrowLeft did not come back to Complete');
    await page.focus('#gallery button:nth-child(5)');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#gallery button:nth-child(5)').getAttribute('aria-selected') === 'true', null, { timeout: 5_000 });
    await page.focus('#src-tab-gallery');
    await page.keyboard.press('End');
    assert(await page.isVisible('#draw-canvas'), 'End did not open the Draw tab');
    await page.click('#draw-clear');
    await page.fill('#draw-color', '#d01010');
    const box = await page.locator('#draw-canvas').boundingBox();
    await page.mouse.move(box.x + 20, box.y + box.height * 0.25);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width - 20, box.y + box.height * 0.25, { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction(() => document.querySelector('#original').width === 256, null, { timeout: 10_000 });
    await page.waitForFunction(() => {
      const c = document.querySelector('#quantized');
      const d = c.getContext('2d').getImageData(8, 4, 1, 1).data; // a pixel on the stroke, in a kept row
      return d[0] > 150 && d[1] < 90 && d[3] === 255;
    }, null, { timeout: 10_000 });
    await page.click('#src-tab-gallery');
    await page.click('#gallery button:nth-child(2)');
  });
}
