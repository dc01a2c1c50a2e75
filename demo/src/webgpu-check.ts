// A plain answer to "does this browser have WebGPU?", before any model work starts.

export type WebGpuStatus = { ok: true } | { ok: false; title: string; detail: string };

const BROWSERS =
  'Use Chrome or Edge 113 or newer (Windows, macOS, ChromeOS; Android 121+), Safari 26 or newer (macOS, iOS), ' +
  'or Firefox 141 or newer on Windows.';

export async function checkWebGpu(): Promise<WebGpuStatus> {
  if (!window.isSecureContext) {
    return {
      ok: false,
      title: 'This page is not a secure context, so WebGPU is off.',
      detail: 'Open it over https:// or from http://localhost.',
    };
  }
  if (!('gpu' in navigator) || !navigator.gpu) {
    return {
      ok: false,
      title: 'This browser does not offer WebGPU, which the model needs to run.',
      detail:
        `${BROWSERS} On Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu (and chrome://flags/#enable-vulkan); ` +
        'in other Firefox versions set dom.webgpu.enabled in about:config.',
    };
  }
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (!adapter) {
    return {
      ok: false,
      title: 'WebGPU is present, but it gave no GPU adapter.',
      detail:
        'The GPU or its driver may be blocklisted, or hardware acceleration turned off. Check chrome://gpu, turn on ' +
        `hardware acceleration, or try chrome://flags/#enable-unsafe-webgpu. ${BROWSERS}`,
    };
  }
  return { ok: true };
}
