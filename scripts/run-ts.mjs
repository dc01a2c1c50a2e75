#!/usr/bin/env node
// Runs a TypeScript entry point (bench, probe, weights CLI) through Vite's module loader,
// so `?raw` WGSL imports resolve exactly as in the library build.
// usage: node scripts/run-ts.mjs FILE.ts [ARGS…]   (the script sees its own args in process.argv.slice(2))
import { createServer } from 'vite';
import { resolve } from 'node:path';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/run-ts.mjs FILE.ts [ARGS…]');
  process.exit(2);
}
process.argv = [process.argv[0], resolve(file), ...args];
const server = await createServer({
  configFile: false,
  logLevel: 'error',
  appType: 'custom',
  server: { middlewareMode: true, hmr: false, ws: false },
  optimizeDeps: { noDiscovery: true, include: [] },
});
let code = 0;
try {
  const mod = await server.ssrLoadModule(resolve(file));
  if (typeof mod.main === 'function') {
    const r = await mod.main(args);
    if (typeof r === 'number') code = r;
  }
} catch (e) {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  code = 1;
} finally {
  await server.close();
}
process.exit(code);
