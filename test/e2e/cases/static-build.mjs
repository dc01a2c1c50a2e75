// The static build (npm run build:demo) serves the page, its worker and the shipped models.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers.mjs';

export function register(test, { shared, assert, waitForState, collectErrors, MODEL, repoRoot }) {
  test('the static build (npm run build:demo) serves the page, its worker and the shipped models', async () => {
    const { build, preview } = await import('vite');
    const outDir = mkdtempSync(join(tmpdir(), 'imagegpt-demo-build-'));
    const configFile = join(repoRoot, 'demo/vite.config.ts');
    try {
      await build({ configFile, logLevel: 'error', build: { outDir, emptyOutDir: true } });
      for (const f of ['index.html', `models/${MODEL}/model.safetensors`, `models/${MODEL}/preprocessor_config.json`, 'gallery/gallery.json']) {
        assert(existsSync(join(outDir, f)), `the static build lacks ${f}`);
      }
      const port = await freePort();
      const server = await preview({ configFile, logLevel: 'error', build: { outDir }, preview: { port, strictPort: true, host: '127.0.0.1', open: false } });
      const page = await shared.page.context().newPage();
      const errors = collectErrors(page);
      try {
        await page.goto(`http://127.0.0.1:${port}/`);
        const state = await waitForState(page, 'model', ['ready', 'error'], 60_000);
        assert(state === 'ready', `static site: model state ${state}`);
        assert(page.workers().length === 1, `static site: ${page.workers().length} workers`);
        assert(errors.length === 0, `console errors:\n${errors.join('\n')}`);
      } finally {
        await page.close();
        await new Promise((done) => server.httpServer.close(done));
      }
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
}
