// `npm run weights -- <command>`: convert HF ImageGPT checkpoints for the browser, or list a checkpoint's tensors.
import { convertModel, MASK_BUFFER, type ConvertProgress, type OutputDType } from './convert';
import { elementCount, openCheckpoint } from './checkpoint';

const USAGE = `usage:
  npm run weights -- convert <hf-model-dir> --out <dir> [--dtype f16|f32]
      Reads config.json, preprocessor_config.json and model.safetensors or pytorch_model.bin;
      writes model.safetensors (HF names, mask buffers dropped; default f16), config.json and
      preprocessor_config.json to <dir>.
  npm run weights -- inspect <file.safetensors|file.bin>
      Lists tensor names, dtypes and shapes, and the total parameter count.`;

const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function progressPrinter(): (p: ConvertProgress) => void {
  const tty = process.stderr.isTTY;
  let lastTenth = -1;
  return (p) => {
    const line = `converting: ${p.tensors}/${p.totalTensors} tensors, ${MB(p.bytesWritten)} of ${MB(p.totalBytes)}`;
    if (tty) {
      process.stderr.write(`\r${line}${p.tensors === p.totalTensors ? '\n' : ''}`);
    } else {
      const tenth = Math.floor((10 * p.bytesWritten) / Math.max(1, p.totalBytes));
      if (tenth !== lastTenth) process.stderr.write(`${line}\n`);
      lastTenth = tenth;
    }
  };
}

function parseConvertArgs(args: string[]): { modelDir: string; outDir: string; dtype: OutputDType } {
  let outDir: string | undefined;
  let dtype: OutputDType = 'f16';
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--out') outDir = args[++i];
    else if (a === '--dtype') {
      const d = args[++i];
      if (d !== 'f16' && d !== 'f32') throw new Error(`--dtype must be f16 or f32, got ${JSON.stringify(d)}`);
      dtype = d;
    } else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 1) throw new Error('convert needs exactly one <hf-model-dir>');
  if (!outDir) throw new Error('convert needs --out <dir>');
  return { modelDir: positional[0], outDir, dtype };
}

async function inspect(path: string, log: (s: string) => void): Promise<void> {
  const checkpoint = await openCheckpoint(path);
  try {
    let parameters = 0;
    let buffers = 0;
    const width = Math.max(...checkpoint.tensors.map((t) => t.name.length), 4);
    log(`${path} (${checkpoint.format}, ${checkpoint.tensors.length} tensors)`);
    for (const [k, v] of Object.entries(checkpoint.metadata)) log(`  metadata ${k}: ${v}`);
    for (const t of checkpoint.tensors) {
      const n = elementCount(t.shape);
      if (MASK_BUFFER.test(t.name)) buffers += n;
      else parameters += n;
      log(`  ${t.name.padEnd(width)}  ${t.dtype.padEnd(4)}  [${t.shape.join(', ')}]`);
    }
    log(`total parameters: ${parameters.toLocaleString('en-US')} (${(parameters / 1e6).toFixed(2)} M)` +
      (buffers > 0 ? `, plus ${buffers.toLocaleString('en-US')} elements of attn.bias/masked_bias buffers (not weights)` : ''));
  } finally {
    await checkpoint.close();
  }
}

export async function main(args: string[], log: (s: string) => void = console.log): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command === 'inspect') {
      if (rest.length !== 1) throw new Error('inspect needs exactly one file');
      await inspect(rest[0], log);
      return 0;
    }
    if (command === 'convert') {
      const { modelDir, outDir, dtype } = parseConvertArgs(rest);
      const start = performance.now();
      const r = await convertModel(modelDir, outDir, { dtype, onProgress: progressPrinter() });
      log(`wrote ${outDir}/model.safetensors: ${r.tensors} tensors, ${(r.parameters / 1e6).toFixed(2)} M parameters, ` +
        `${r.dtype}, ${MB(r.bytes)} (from ${r.source}; dropped ${r.dropped.length} mask buffers) in ${((performance.now() - start) / 1000).toFixed(1)} s`);
      log(`copied config.json and preprocessor_config.json to ${outDir}`);
      return 0;
    }
    console.error(USAGE);
    return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
  } catch (e) {
    console.error(`weights: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
