// The probe's features: every layer's mean-pooled hidden states of every image, raw and/or layer-normed,
// extracted on the GPU (Dawn) and timed, or read back from --features-cache.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadavg } from 'node:os';
import { ImageGPT, parseSafetensors, tensorToFloat32 } from '../src/index';
import type { ImageGPTConfigJSON } from '../src/index';
import { requestImageGptDevice } from '../src/gpu/device';
import { relError } from '../scripts/rel-error';
import { nodeGpu } from '../scripts/node-webgpu';
import type { ProbeArgs } from './probe-args';
import { readJson } from './probe-data';

/** A device from Dawn with the library's own request (a model this small fits the browser default limits). */
async function probeDevice(): Promise<{ device: GPUDevice; info: GPUAdapterInfo }> {
  const gpu = nodeGpu(); // one Dawn instance for the process: it must outlive its devices
  const limit = 128 * 1024 * 1024;
  try {
    return await requestImageGptDevice(gpu, { maxBufferBytes: limit, maxBindingBytes: limit });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`${why}: run through \`npm run probe\` (it points Dawn at SwiftShader) or set VK_ICD_FILENAMES`);
  }
}

export interface FeatureExtraction {
  /** Hidden state index → Float32Array [images, n_embd]. */
  features: Map<number, Float32Array>;
  timing: { date: string; seconds: number; cpuSeconds: number; batchSize: number; load: [number, number] };
  device: { vendor: string; architecture: string; description: string };
}

/**
 * Pooled features of every `layers` entry for all `inputIds`, raw and/or layer-normed (`kinds`: normalize false /
 * true), timed (wall and this process's CPU). One kind: model.features. Both: one forward pass per batch reading the
 * hidden states back, pooled here both ways (the same arithmetic as features' normalize, checked against it on the
 * first images), so that both kinds cost one pass over the images.
 */
export async function extractFeatures(args: ProbeArgs, configJson: unknown, weights: Uint8Array, inputIds: number[][], layers: number[], kinds: boolean[]): Promise<Map<boolean, FeatureExtraction>> {
  const { device, info } = await probeDevice();
  const model = await ImageGPT.fromPretrained({ config: configJson as ImageGPTConfigJSON, weights }, { device, dtype: args.dtype });
  console.log(`model ${args.model}: ${model.config.n_layer} layers, n_embd ${model.config.n_embd}, ${args.dtype} on ${info.vendor} ${info.architecture} ${info.description}`);
  let start = 0; // set when the timed pass begins
  let lastReport = 0;
  const onProgress = ({ done, total }: { done: number; total: number }): void => {
    const seconds = (performance.now() - start) / 1000;
    if (done < total && seconds - lastReport < 30) return;
    lastReport = seconds;
    const rate = done / seconds;
    const left = done < total ? `, about ${((total - done) / rate / 60).toFixed(1)} min left` : '';
    console.log(`features: ${done}/${total} images, ${rate.toFixed(2)} images/s, ${seconds.toFixed(0)} s${left}`);
  };
  if (kinds.length > 1) {
    // The host-side pooling against the library's own, on a few images, before the long pass.
    const few = inputIds.slice(0, 4);
    const here = await bothFeatures(model, weights, few, layers, few.length, () => {});
    for (const normalize of kinds) {
      const lib = await model.features(few, { layers, normalize });
      for (const l of layers) {
        const err = relError(here.get(normalize)!.get(l)!, lib.get(l)!);
        if (!(err < 1e-4)) throw new Error(`probe: ${normalize ? 'normed' : 'raw'} features of layer ${l} pooled here differ from model.features by ${err}`);
      }
    }
    console.log('features: raw and layer-normed pooling from the hidden states equal model.features on 4 images (relative error < 1e-4)');
  }
  const load = loadavg()[0];
  start = performance.now();
  const cpuStart = process.cpuUsage();
  const pooled =
    kinds.length === 1
      ? new Map([[kinds[0], await model.features(inputIds, { layers, normalize: kinds[0], batchSize: args.batchSize, onProgress })]])
      : await bothFeatures(model, weights, inputIds, layers, args.batchSize, onProgress);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  model.dispose();
  device.destroy();
  const timing = { date: new Date().toISOString(), seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, batchSize: args.batchSize, load: [load, loadavg()[0]] as [number, number] };
  const deviceInfo = { vendor: info.vendor, architecture: info.architecture, description: info.description };
  return new Map(kinds.map((k) => [k, { features: pooled.get(k)!, timing, device: deviceInfo }]));
}

/**
 * Raw and layer-normed mean-pooled features from one forward pass per batch: the mean over tokens of hidden state l,
 * and of ImageGPT's norm of it (x / sqrt(mean(x²) + eps), no centering) times block l's ln_1 gains (l = n_layer: ln_f's
 * output, as it is), exactly as features' normalize defines them.
 */
async function bothFeatures(
  model: ImageGPT,
  weights: Uint8Array,
  inputIds: number[][],
  layers: number[],
  batchSize: number,
  onProgress: (p: { done: number; total: number }) => void,
): Promise<Map<boolean, Map<number, Float32Array>>> {
  const { n_embd: E, n_layer: L, layer_norm_epsilon: eps } = model.config;
  const tensors = parseSafetensors(weights).tensors;
  const gains = layers.map((l) => (l < L ? tensorToFloat32(tensors.get(`transformer.h.${l}.ln_1.weight`)!) : null));
  const N = inputIds.length;
  const T = inputIds[0].length;
  const raw = new Map(layers.map((l) => [l, new Float32Array(N * E)]));
  const normed = new Map(layers.map((l) => [l, new Float32Array(N * E)]));
  const sumRaw = new Float64Array(E);
  const sumNormed = new Float64Array(E);
  for (let start = 0; start < N; start += batchSize) {
    const rows = inputIds.slice(start, start + batchSize);
    const { hiddenStates } = await model.forward(rows, { outputHiddenStates: true, outputLogits: false });
    layers.forEach((l, k) => {
      const h = hiddenStates![l];
      for (let b = 0; b < rows.length; b++) {
        sumRaw.fill(0);
        sumNormed.fill(0);
        for (let t = 0; t < T; t++) {
          const o = (b * T + t) * E;
          let squares = 0;
          for (let e = 0; e < E; e++) squares += h[o + e] * h[o + e];
          const inv = 1 / Math.sqrt(squares / E + eps);
          const g = gains[k];
          for (let e = 0; e < E; e++) {
            sumRaw[e] += h[o + e];
            sumNormed[e] += g ? h[o + e] * inv * g[e] : h[o + e];
          }
        }
        for (let e = 0; e < E; e++) {
          raw.get(l)![(start + b) * E + e] = sumRaw[e] / T;
          normed.get(l)![(start + b) * E + e] = sumNormed[e] / T;
        }
      }
    });
    onProgress({ done: start + rows.length, total: N });
  }
  return new Map([
    [false, raw],
    [true, normed],
  ]);
}

// --features-cache P: P.json (what the features are of, how they were timed) and P.f32 (the layers'
// [images, n_embd] matrices one after another), so the probes can be rerun without the GPU.
export function readFeatureCache(path: string, key: string, layerCount: number, valuesPerLayer: number): FeatureExtraction | null {
  if (!existsSync(`${path}.json`) || !existsSync(`${path}.f32`)) return null;
  const header = readJson(`${path}.json`) as { key: string; timing: FeatureExtraction['timing']; device: FeatureExtraction['device'] };
  if (header.key !== key) {
    console.log(`features: ${path}.json is for other weights, dtype or images; extracting again`);
    return null;
  }
  const bytes = readFileSync(`${path}.f32`);
  if (bytes.byteLength !== layerCount * valuesPerLayer * 4) {
    throw new Error(`${path}.f32 has ${bytes.byteLength} bytes, expected ${layerCount} layers × ${valuesPerLayer} float32 values`);
  }
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const features = new Map<number, Float32Array>();
  for (let l = 0; l < layerCount; l++) features.set(l, all.slice(l * valuesPerLayer, (l + 1) * valuesPerLayer));
  return { features, timing: header.timing, device: header.device };
}

export function writeFeatureCache(path: string, key: string, extraction: FeatureExtraction): void {
  const parts = [...extraction.features.keys()].sort((a, b) => a - b).map((l) => extraction.features.get(l)!);
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.f32`, new Uint8Array(all.buffer));
  writeFileSync(`${path}.json`, JSON.stringify({ key, timing: extraction.timing, device: extraction.device }, null, 2) + '\n');
  console.log(`features: saved to ${path}.{json,f32}`);
}
