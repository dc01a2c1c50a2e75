// The demo: a static site (index.html + a module worker). `npm run demo` serves it, `npm run build:demo`
// writes dist-demo/. The shipped models come from the repo's models/ folder (see models-plugin.ts);
// DEMO_MODELS_DIR points it elsewhere (tests, a model being trained).
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { shippedModels } from './models-plugin.ts';

/**
 * `npm run demo` opens the page in the default browser, as the README says. Not under CI (no one to look at
 * it), and `BROWSER=none` stops it too (Vite's own switch); on a machine without a browser Vite only logs that
 * it could not open one and serves on. The tests start this server with `open: false`.
 */
export function opensBrowser(env: Record<string, string | undefined>): boolean {
  return !env.CI || env.CI === 'false' || env.CI === '0';
}

const demoRoot = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(demoRoot, '..');

export default defineConfig({
  root: demoRoot,
  base: './',
  plugins: [shippedModels(process.env.DEMO_MODELS_DIR ? resolve(process.env.DEMO_MODELS_DIR) : resolve(repoRoot, 'models'))],
  worker: { format: 'es' },
  build: {
    outDir: resolve(repoRoot, 'dist-demo'),
    emptyOutDir: true,
    target: 'es2022',
  },
  server: { fs: { allow: [repoRoot] }, open: opensBrowser(process.env) },
  optimizeDeps: { noDiscovery: true, include: [] },
});
