// bench:gpu in a page (served with Vite by bench/gpu.ts for `npm run bench:gpu -- --browser`): the same
// measurements as in Node, on navigator.gpu. Progress goes to the console, which the runner echoes.
import { runGpuBench, type GpuBenchOptions, type GpuBenchResult } from './gpu-core';

declare global {
  // eslint-disable-next-line no-var
  var runImageGptGpuBench: (options: GpuBenchOptions) => Promise<GpuBenchResult>;
}

globalThis.runImageGptGpuBench = (options) => {
  if (!navigator.gpu) return Promise.reject(new Error('bench:gpu: navigator.gpu is undefined in this page (was Chromium started with --enable-unsafe-webgpu?)'));
  return runGpuBench(navigator.gpu, { ...options, log: (line) => console.log(line) });
};
