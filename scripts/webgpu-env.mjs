// Where Dawn (npm `webgpu`) finds a Vulkan driver on a machine without a GPU. Two CPU implementations of Vulkan:
// SwiftShader, as shipped by Debian's chromium (or beside a Playwright Chromium), and Mesa's lavapipe (Debian's
// mesa-vulkan-drivers ≥ 25, from bookworm-backports; 22.3 gives Dawn no adapter). IMAGEGPT_ADAPTER picks one
// (default swiftshader). Dawn reads VK_ICD_FILENAMES when the process starts, so this runs in the parent before
// any test or benchmark process is spawned.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { homedir } from 'node:os';

/** The values IMAGEGPT_ADAPTER takes: which CPU Vulkan driver Dawn is pointed at. */
export const ADAPTER_NAMES = ['swiftshader', 'lavapipe'];

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

/** Mesa's lavapipe manifest (Debian: /usr/share/vulkan/icd.d/lvp_icd.json; other distributions add the arch). */
export function findLavapipeIcd() {
  for (const dir of ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d']) {
    if (!existsSync(dir)) continue;
    const name = readdirSync(dir).find((f) => /^lvp_icd(\.[\w-]+)?\.json$/.test(f));
    if (name) return join(dir, name);
  }
  return null;
}

export function findChromium() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(p)) return p;
  return null;
}

/**
 * Environment for a child process that needs WebGPU in Node. IMAGEGPT_ADAPTER=swiftshader|lavapipe points the
 * Vulkan loader at that driver alone (replacing a VK_ICD_FILENAMES already set); without it a VK_ICD_FILENAMES
 * already set is kept, else SwiftShader is used. IMAGEGPT_REAL_GPU=1 leaves the loader alone, so Dawn sees every
 * installed driver (and the tests and benchmarks refuse a CPU adapter). Throws on a value it does not know.
 */
export function webgpuEnv(base = process.env) {
  const env = { ...base };
  const chosen = env.IMAGEGPT_ADAPTER || undefined;
  if (chosen !== undefined && !ADAPTER_NAMES.includes(chosen)) {
    throw new Error(`IMAGEGPT_ADAPTER=${chosen}: expected one of ${ADAPTER_NAMES.join(', ')} (or unset for swiftshader)`);
  }
  if (env.IMAGEGPT_REAL_GPU === '1') {
    if (chosen !== undefined) throw new Error(`IMAGEGPT_REAL_GPU=1 and IMAGEGPT_ADAPTER=${chosen}: a real GPU or a CPU driver, not both`);
  } else if (chosen !== undefined || !env.VK_ICD_FILENAMES) {
    const name = chosen ?? 'swiftshader';
    const icd = name === 'lavapipe' ? findLavapipeIcd() : findSwiftShaderIcd();
    if (icd) env.VK_ICD_FILENAMES = icd;
    else delete env.VK_ICD_FILENAMES; // never fall through to another driver than the one named
    env.IMAGEGPT_ADAPTER = name;
  }
  const chromium = findChromium();
  if (chromium && !env.CHROMIUM_PATH) env.CHROMIUM_PATH = chromium;
  return env;
}

/** Why `env` (from webgpuEnv) gives Dawn no driver to use, or null when it names one. */
export function missingWebgpu(env) {
  if (env.VK_ICD_FILENAMES || env.IMAGEGPT_REAL_GPU === '1') return null;
  return env.IMAGEGPT_ADAPTER === 'lavapipe' ? HOW_TO_GET_LAVAPIPE : HOW_TO_GET_WEBGPU;
}

export const HOW_TO_GET_WEBGPU =
  'No WebGPU adapter. On a machine without a GPU, install Debian\'s Chromium (`apt-get install chromium`), ' +
  'which ships SwiftShader (/usr/lib/chromium/vk_swiftshader_icd.json), or set VK_ICD_FILENAMES to a Vulkan ICD; ' +
  'set CHROMIUM_PATH to use another Chromium for the browser tests.';

export const HOW_TO_GET_LAVAPIPE =
  'IMAGEGPT_ADAPTER=lavapipe: no lavapipe (lvp_icd*.json under /usr/share/vulkan/icd.d). Install Mesa 25 from Debian ' +
  'bookworm-backports (`apt-get install -t bookworm-backports mesa-vulkan-drivers`; Debian 12\'s own 22.3 gives Dawn ' +
  'no adapter), or leave IMAGEGPT_ADAPTER unset for SwiftShader.';
