// Where Dawn (npm `webgpu`) finds a Vulkan driver on a machine without a GPU:
// SwiftShader, as shipped by Debian's chromium (or beside a Playwright Chromium).
// Dawn reads VK_ICD_FILENAMES when the process starts, so this runs in the parent
// before any test or benchmark process is spawned.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { homedir } from 'node:os';

export function findSwiftShaderIcd() {
  const candidates = ['/usr/lib/chromium/vk_swiftshader_icd.json'];
  const pwDir = process.env.PLAYWRIGHT_BROWSERS_PATH || join(homedir(), '.cache', 'ms-playwright');
  if (existsSync(pwDir)) {
    for (const d of readdirSync(pwDir)) {
      if (d.startsWith('chromium')) {
        candidates.push(join(pwDir, d, 'chrome-linux', 'vk_swiftshader_icd.json'));
        candidates.push(join(pwDir, d, 'chrome-linux64', 'vk_swiftshader_icd.json'));
      }
    }
  }
  return candidates.find((p) => existsSync(p)) ?? null;
}

export function findChromium() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(p)) return p;
  return null;
}

/** Environment for a child process that needs WebGPU in Node. */
export function webgpuEnv(base = process.env) {
  const env = { ...base };
  // IMAGEGPT_REAL_GPU=1 leaves the Vulkan loader alone, so Dawn picks a real GPU.
  if (!env.VK_ICD_FILENAMES && env.IMAGEGPT_REAL_GPU !== '1') {
    const icd = findSwiftShaderIcd();
    if (icd) env.VK_ICD_FILENAMES = icd;
  }
  const chromium = findChromium();
  if (chromium && !env.CHROMIUM_PATH) env.CHROMIUM_PATH = chromium;
  return env;
}

export const HOW_TO_GET_WEBGPU =
  'No WebGPU adapter. On a machine without a GPU, install Debian\'s Chromium (`apt-get install chromium`), ' +
  'which ships SwiftShader (/usr/lib/chromium/vk_swiftshader_icd.json), or set VK_ICD_FILENAMES to a Vulkan ICD; ' +
  'set CHROMIUM_PATH to use another Chromium for the browser tests.';
