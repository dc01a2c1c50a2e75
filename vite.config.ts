import { defineConfig } from 'vitest/config';

// Library build: one ES module with every WGSL kernel inlined (imported with `?raw`).
// Tests (Vitest) run in Node against Dawn (the `webgpu` package); see scripts/run-tests.mjs.
export default defineConfig({
  build: {
    lib: {
      entry: 'src/index.ts',
      formats: ['es'],
      fileName: () => 'imagegpt-webgpu.js',
    },
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    minify: false,
    // Runtime dependencies stay imports (package.json lists them), so an app bundles one copy.
    rollupOptions: { external: ['fflate'] },
  },
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    environment: 'node',
    setupFiles: ['test/helpers/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // SwiftShader is a CPU: two test files fighting over 2 cores only slows both.
    fileParallelism: false,
  },
});
