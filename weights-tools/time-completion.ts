// How long the demo's default completion takes with a model folder, on this machine's WebGPU (SwiftShader
// here): `samples` completions of a gallery image keeping its top `keepRows` rows, timed after a warm-up
// run, median of `runs`. Used to check that a bigger shipped model stays within 2x of the old one's time.
//   node scripts/with-webgpu.mjs node scripts/run-ts.mjs weights-tools/time-completion.ts models/emoji-16 [more dirs]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageGPT } from '../src/model/imagegpt';
import { ImageGPTImageProcessor } from '../src/processor/processor';
import { createNodeDevice } from '../scripts/node-webgpu';

const SAMPLES = 4;
const RUNS = 3;

async function timeModel(dir: string, device: GPUDevice): Promise<{ keepRows: number; medianSeconds: number }[]> {
  const read = (file: string) => readFileSync(join(dir, file));
  const model = await ImageGPT.fromPretrained(
    { config: JSON.parse(read('config.json').toString('utf8')), weights: new Uint8Array(read('model.safetensors')) },
    { device, dtype: 'f16' },
  );
  const processor = await ImageGPTImageProcessor.fromPretrained(JSON.parse(read('preprocessor_config.json').toString('utf8')));
  const height = Math.sqrt(model.config.n_positions);
  const tokens = new Int32Array(model.config.n_positions).fill(0);
  const rows = [];
  for (const keepRows of [height / 2, 0]) {
    const times: number[] = [];
    for (let r = 0; r <= RUNS; r++) {
      const t0 = performance.now();
      await model.complete(tokens, { processor, keepRows, samples: SAMPLES, temperature: 1, topK: 40, seed: r });
      if (r > 0) times.push((performance.now() - t0) / 1000); // run 0 compiles pipelines
    }
    times.sort((a, b) => a - b);
    rows.push({ keepRows, medianSeconds: times[Math.floor(times.length / 2)] });
  }
  model.dispose();
  return rows;
}

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: time-completion.ts MODEL_DIR [MODEL_DIR…]');
  process.exit(2);
}
const { device } = await createNodeDevice();
for (const dir of dirs) {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { n_layer: number; n_embd: number };
  for (const row of await timeModel(dir, device)) {
    console.log(JSON.stringify({ model: dir, n_layer: config.n_layer, n_embd: config.n_embd, samples: SAMPLES, ...row,
      medianSeconds: Number(row.medianSeconds.toFixed(2)) }));
  }
}
device.destroy();
