// Fuzz targets for the parsers of untrusted input (no GPU): safetensors (whole files and the streaming
// reader), config.json, preprocessor_config.json, and torch.save checkpoints (zip + pickle).
import { readFileSync } from 'node:fs';
import { unzipSync, zipSync } from 'fflate';
import { describeValue, parseJsonText } from '../../src/json';
import { parseImageGPTConfig } from '../../src/model/config';
import { ImageGPTImageProcessor, type PreprocessorConfig } from '../../src/processor';
import {
  SAFETENSORS_DTYPE_BITS,
  SAFETENSORS_FLOAT_DTYPES,
  parseSafetensors,
  tensorToFloat32,
  writeSafetensors,
  type SafetensorsDType,
} from '../../src/safetensors';
import { memoryCursor, streamCursor } from '../../src/loading/cursor';
import { readSafetensorsCheckpoint } from '../../src/loading/safetensors-stream';
import { parseTorchStateDict, readTorchCheckpoint } from '../../src/loading/torch';
import type { ByteCursor, TensorInfo, TensorSink } from '../../src/loading/types';
import { hexExcerpt, type FuzzTarget, type Rng } from './harness';
import { damageText, longName, mutateBytes, mutateJsonDocument } from './mutate';

// import.meta.url, not __dirname: this also runs as an ES module through scripts/run-ts.mjs.
const fixturePath = (path: string) => new URL(`../fixtures/${path}`, import.meta.url);
const fixture = (path: string) => new Uint8Array(readFileSync(fixturePath(path)));
const fixtureJson = (path: string) => JSON.parse(readFileSync(fixturePath(path), 'utf8')) as unknown;

// ─────────────────────────────── safetensors ───────────────────────────────

/** Small valid files of every dtype and a few shapes, the seeds the mutations start from. */
function safetensorsCorpus(): Uint8Array[] {
  const dtypes = Object.keys(SAFETENSORS_DTYPE_BITS) as SafetensorsDType[];
  const files: Uint8Array[] = [];
  const bytesFor = (dtype: SafetensorsDType, shape: number[]) =>
    new Uint8Array((shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BITS[dtype]) / 8).map((_, i) => (i * 37 + 11) & 255);
  for (let i = 0; i < dtypes.length; i += 3) {
    const tensors = dtypes.slice(i, i + 3).map((dtype, j) => {
      const shape = [[2, 4], [8], [], [0, 3], [2, 2, 2]][(i + j) % 5];
      return { name: `t${i + j}.${dtype}`, dtype, shape, data: bytesFor(dtype, shape) };
    });
    files.push(writeSafetensors(tensors, i % 2 === 0 ? { format: 'pt', note: `n${i}` } : undefined));
  }
  files.push(writeSafetensors([]));
  files.push(fixture('torch/logits.safetensors'));
  return files;
}

/** Where the JSON header lies in a file (for mutations aimed at it). */
function headerRange(file: Uint8Array): { start: number; end: number } {
  const n = file.length >= 8 ? new DataView(file.buffer, file.byteOffset, 8).getUint32(0, true) : 0;
  return { start: 8, end: Math.min(file.length, 8 + n) };
}

/** A file with `json` as its header and the original data section after it. */
function withHeader(json: string, data: Uint8Array, rng: Rng): Uint8Array {
  const text = new TextEncoder().encode(json);
  const padded = rng.chance(0.8) ? Math.ceil(text.length / 8) * 8 : text.length;
  const out = new Uint8Array(8 + padded + data.length).fill(0x20, 8 + text.length, 8 + padded);
  new DataView(out.buffer).setUint32(0, padded, true);
  out.set(text, 8);
  out.set(data, 8 + padded);
  return out;
}

interface SafetensorsInput {
  bytes: Uint8Array;
  /** Read through the streaming reader (the loader's path) rather than parseSafetensors. */
  stream: boolean;
  chunk: number;
}

/** A sink that checks the contract the streaming readers promise (declared tensors, in-range data). */
class CheckingSink implements TensorSink {
  private readonly sizes = new Map<string, number>();
  private readonly seen = new Map<string, number>();
  problem: string | null = null;

  constructor(private readonly bits: (dtype: SafetensorsDType) => number) {}

  declare(_file: string, tensors: readonly TensorInfo[]): void {
    for (const t of tensors) this.sizes.set(t.name, (t.shape.reduce((a, b) => a * b, 1) * this.bits(t.dtype)) / 8);
  }

  data(name: string, byteOffset: number, bytes: Uint8Array): void {
    const size = this.sizes.get(name);
    if (size === undefined) this.problem ??= `data for undeclared tensor ${describeValue(name)}`;
    else if (byteOffset < 0 || byteOffset + bytes.length > size) {
      this.problem ??= `data [${byteOffset}, ${byteOffset + bytes.length}) outside tensor ${describeValue(name)} of ${size} bytes`;
    }
    this.seen.set(name, (this.seen.get(name) ?? 0) + bytes.length);
  }

  /** After a read that resolved: every declared tensor got exactly its bytes. */
  complete(): string | null {
    if (this.problem) return this.problem;
    for (const [name, size] of this.sizes) {
      if ((this.seen.get(name) ?? 0) !== size) return `tensor ${describeValue(name)} got ${this.seen.get(name) ?? 0} of its ${size} bytes`;
    }
    return null;
  }
}

/** A forward-only cursor over bytes in memory, delivered in chunks of `chunk` (an HTTP body). */
function chunkedStream(name: string, bytes: Uint8Array, chunk: number, withSize: boolean): ByteCursor {
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
  return streamCursor(name, stream, withSize ? bytes.length : undefined);
}

export const safetensorsTarget: FuzzTarget<SafetensorsInput> = {
  name: 'safetensors',
  limitMs: 1000,
  async setup() {
    const corpus = safetensorsCorpus();
    return {
      generate(rng) {
        const base = rng.pick(corpus);
        let bytes: Uint8Array;
        const range = headerRange(base);
        const kind = rng.int(10);
        if (kind < 4) {
          bytes = mutateBytes(rng, base, rng.chance(0.6) ? range : undefined);
        } else if (kind < 9) {
          // Structured: a value of the header replaced by a hostile one, then re-framed (correct length).
          const header = JSON.parse(new TextDecoder().decode(base.subarray(range.start, range.end))) as unknown;
          const json = rng.chance(0.15) ? damageText(rng, JSON.stringify(header)) : mutateJsonDocument(rng, header);
          bytes = withHeader(json, base.subarray(range.end), rng);
          if (rng.chance(0.2)) bytes = mutateBytes(rng, bytes);
        } else {
          // The length prefix alone.
          bytes = base.slice();
          const view = new DataView(bytes.buffer);
          view.setUint32(0, rng.pick([0, 1, 2, range.end - 8 + rng.range(-9, 9), 0xffffffff, 100_000_001, rng.int(2 ** 32)]) >>> 0, true);
          view.setUint32(4, rng.pick([0, 0, 0, 1, 0xffffffff]), true);
        }
        return { bytes, stream: rng.chance(0.3), chunk: rng.pick([61, 64, 1024, 4096, 1 << 20]) };
      },
      async run({ bytes, stream, chunk }) {
        if (stream) {
          const sink = new CheckingSink((d) => SAFETENSORS_DTYPE_BITS[d]);
          const cursor = chunk === 1 << 20 ? memoryCursor('model.safetensors', bytes) : chunkedStream('model.safetensors', bytes, chunk, chunk % 2 === 0);
          await readSafetensorsCheckpoint(cursor, sink);
          return sink.complete() ?? undefined;
        }
        const file = parseSafetensors(bytes);
        for (const t of file.tensors.values()) {
          if (SAFETENSORS_FLOAT_DTYPES.has(t.dtype)) {
            const values = tensorToFloat32(t);
            const count = t.shape.reduce((a, b) => a * b, 1);
            if (values.length !== count) return `tensor ${describeValue(t.name)}: ${values.length} values for shape ${describeValue(t.shape)}`;
          }
        }
      },
      describe: (input) => `${input.stream ? `stream (chunks of ${input.chunk})` : 'parseSafetensors'}: ${hexExcerpt(input.bytes, 32)} | ${excerptText(input.bytes)}`,
    };
  },
};

/** The first characters of the header as text, for reports. */
function excerptText(bytes: Uint8Array): string {
  return JSON.stringify(new TextDecoder().decode(bytes.subarray(8, 168)));
}

// ─────────────────────────────── config.json ───────────────────────────────

export const configTarget: FuzzTarget<string> = {
  name: 'config',
  limitMs: 1000,
  async setup() {
    const corpus = ['tiny/config.json', 'tiny-inv/config.json', 'classifier/config.json', 'torch/config.json'].map(fixtureJson);
    corpus.push({}, { n_embd: 1536, n_head: 16, n_layer: 48 });
    return {
      generate(rng) {
        const base = rng.pick(corpus);
        return rng.chance(0.15) ? damageText(rng, JSON.stringify(base)) : mutateJsonDocument(rng, base);
      },
      run(text) {
        const c = parseImageGPTConfig(parseJsonText(text, 'config.json'), 'config.json');
        // Oracle: what was accepted, the kernels can run.
        const D = c.n_embd / c.n_head;
        const ints = [c.vocab_size, c.n_positions, c.n_embd, c.n_layer, c.n_head, c.n_inner];
        if (!ints.every((v) => Number.isInteger(v) && v >= 1)) return `accepted non-integer sizes ${describeValue(ints)}`;
        if (!Number.isInteger(D) || D % 4 !== 0) return `accepted head size ${D}`;
        if (c.n_inner % 2 !== 0 || c.vocab_size % 2 !== 1) return `accepted n_inner ${c.n_inner} / vocab_size ${c.vocab_size}`;
        if (!(Math.fround(c.layer_norm_epsilon) > 0) || !Number.isFinite(Math.fround(c.layer_norm_epsilon))) return `accepted eps ${c.layer_norm_epsilon}`;
        for (const b of [c.scale_attn_weights, c.scale_attn_by_inverse_layer_idx, c.reorder_and_upcast_attn]) {
          if (typeof b !== 'boolean') return `accepted a non-boolean flag ${describeValue(b)}`;
        }
        if (c.id2label && Object.values(c.id2label).some((v) => typeof v !== 'string')) return 'accepted a non-string label';
      },
      describe: (text) => `${text.length} chars: ${JSON.stringify(text.slice(0, 200))}`,
    };
  },
};

// ─────────────────────────────── preprocessor_config.json ───────────────────────────────

export const processorConfigTarget: FuzzTarget<string> = {
  name: 'processor-config',
  limitMs: 1000,
  async setup() {
    const full = fixtureJson('torch/preprocessor_config.json') as Record<string, unknown>;
    const clusters = full.clusters as number[][];
    // Short cluster lists keep each input fast; the full one is there too.
    const corpus: unknown[] = [
      full,
      { ...full, clusters: clusters.slice(0, 4) },
      { clusters: clusters.slice(0, 2), size: { height: 4, width: 4 }, do_resize: true },
      { clusters: clusters.slice(0, 3), size: 8, resample: 2, do_normalize: true, do_color_quantize: true },
    ];
    const image = { data: Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 53) & 255), width: 5, height: 3 };
    return {
      generate(rng) {
        const base = rng.pick(corpus);
        return rng.chance(0.1) ? damageText(rng, JSON.stringify(base)) : mutateJsonDocument(rng, base);
      },
      run(text) {
        const config = parseJsonText(text, 'preprocessor_config.json') as PreprocessorConfig;
        const p = ImageGPTImageProcessor.fromConfig(config, 'preprocessor_config.json');
        // Oracle: numbers only, in range; encode/decode work at small sizes.
        if (![...p.clusters].every((v) => Number.isFinite(v) && v >= -1 && v <= 1)) return 'accepted clusters outside [-1, 1]';
        if (typeof p.doResize !== 'boolean') return `accepted do_resize ${describeValue(p.doResize)}`;
        if (p.size.height * p.size.width <= 4096) {
          const { inputIds } = p.encode(image);
          p.decode(inputIds[0], { height: p.doResize ? p.size.height : image.height, width: p.doResize ? p.size.width : image.width });
        }
      },
      describe: (text) => `${text.length} chars: ${JSON.stringify(text.slice(0, 200))}`,
    };
  },
};

// ─────────────────────────────── torch.save checkpoints ───────────────────────────────

interface TorchInput {
  /** A whole checkpoint through the reader, or a bare pickle through parseTorchStateDict. */
  kind: 'file' | 'pickle';
  bytes: Uint8Array;
  /** file: read with a random-access cursor or front to back in chunks of this many bytes. */
  chunk: number;
}

const TORCH_FIXTURES = ['tiny-f32.bin', 'tiny-f16.bin', 'tiny-bf16.bin', 'tiny-views.bin', 'tiny-deflated.bin', 'tiny-zip64.bin', 'evil.bin', 'legacy.bin'];

export const torchTarget: FuzzTarget<TorchInput> = {
  name: 'torch',
  limitMs: 1000,
  async setup() {
    const files = TORCH_FIXTURES.map((name) => fixture(`torch/${name}`));
    // The zips' pickles, to mutate alone and to re-zip (stored, so the CRCs stay right) into whole files.
    const archives: { entries: [string, Uint8Array][]; pkl: string }[] = [];
    for (const bytes of files) {
      try {
        const entries = Object.entries(unzipSync(bytes));
        const pkl = entries.find(([name]) => /(^|\/)data\.pkl$/.test(name));
        if (pkl) archives.push({ entries, pkl: pkl[0] });
      } catch {
        // not a zip (legacy.bin): byte mutations only
      }
    }
    const chunk = (rng: Rng) => rng.pick([0, 0, 1024, 16384]);
    const rezip = (entries: [string, Uint8Array][]) => zipSync(Object.fromEntries(entries.map(([name, data]) => [name, [data, { level: 0 }]])));
    return {
      generate(rng) {
        const kind = rng.int(12);
        if (kind < 4) {
          return { kind: 'file', bytes: mutateBytes(rng, rng.pick(files)), chunk: chunk(rng) };
        }
        const archive = rng.pick(archives);
        const pkl = archive.entries.find(([name]) => name === archive.pkl)![1];
        if (kind === 10) {
          // Long names inside the pickle: a tensor name, storage key or dtype string, or a global's module/name.
          const long = lengthenPickleName(rng, pkl);
          if (rng.chance(0.4)) return { kind: 'pickle', bytes: long, chunk: 0 };
          return { kind: 'file', bytes: rezip(archive.entries.map(([name, data]) => [name, name === archive.pkl ? long : data])), chunk: chunk(rng) };
        }
        if (kind === 11) {
          // Long zip entry names: the archive's root folder, one storage, or the pickle; sometimes a storage byte
          // flipped too, so that the error is about a long-named entry.
          let long = longName(rng);
          // A zip name holds at most 65,535 bytes (UTF-8).
          while (new TextEncoder().encode(long).length > 60_000) long = long.slice(0, Math.floor(long.length * 0.8));
          const which = rng.int(3);
          const renamed = archive.entries.map(([name, data], i): [string, Uint8Array] => {
            if (which === 0) return [name.replace(/^[^/]*\//, `${long}/`), data];
            if (which === 1 && i === archive.entries.length - 1) return [`${name}${long}`, data];
            if (which === 2 && name === archive.pkl) return [`${long}/data.pkl`, data];
            return [name, data];
          });
          let bytes: Uint8Array = rezip(renamed);
          if (rng.chance(0.5)) bytes = mutateBytes(rng, bytes, { start: Math.max(0, bytes.length - 4096), end: bytes.length });
          return { kind: 'file', bytes, chunk: chunk(rng) };
        }
        const damaged = mutateBytes(rng, pkl);
        if (kind < 7) return { kind: 'pickle', bytes: damaged, chunk: 0 };
        return { kind: 'file', bytes: rezip(archive.entries.map(([name, data]) => [name, name === archive.pkl ? damaged : data])), chunk: chunk(rng) };
      },
      async run({ kind, bytes, chunk }) {
        if (kind === 'pickle') {
          parseTorchStateDict(bytes, 'archive/', 'pytorch_model.bin');
          return;
        }
        const sink = new CheckingSink((d) => SAFETENSORS_DTYPE_BITS[d]);
        const cursor = chunk === 0 ? memoryCursor('pytorch_model.bin', bytes) : chunkedStream('pytorch_model.bin', bytes, chunk, chunk % 2 === 0);
        await readTorchCheckpoint(cursor, sink);
        return sink.complete() ?? undefined;
      },
      describe: (input) => `${input.kind}${input.kind === 'file' ? (input.chunk ? ` (stream, chunks of ${input.chunk})` : ' (random access)') : ''}: ${hexExcerpt(input.bytes, 40)}`,
    };
  },
};

/**
 * A copy of a pickle with one of its names made long: a BINUNICODE string ('X', u32 length, UTF-8) or a
 * GLOBAL's module or name line ('c', module\n, name\n). Found by a scan that may also match inside other
 * data; a wrong match only makes another broken pickle, which is fine for a fuzzer.
 */
function lengthenPickleName(rng: Rng, pkl: Uint8Array): Uint8Array {
  const view = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const spots: { start: number; end: number; binunicode: boolean }[] = [];
  for (let i = 0; i + 5 <= pkl.length; i++) {
    if (pkl[i] === 0x58) {
      const n = view.getUint32(i + 1, true);
      if (n > 0 && n < 256 && i + 5 + n <= pkl.length) spots.push({ start: i + 5, end: i + 5 + n, binunicode: true });
    } else if (pkl[i] === 0x63) {
      const nl = pkl.indexOf(0x0a, i + 1);
      if (nl > i + 1 && nl - i < 64) spots.push({ start: i + 1, end: nl, binunicode: false });
    }
  }
  if (spots.length === 0) return mutateBytes(rng, pkl);
  const spot = rng.pick(spots);
  let name = longName(rng);
  if (!spot.binunicode) name = name.replace(/\n/g, ' '); // a GLOBAL's line ends at the newline
  const text = new TextEncoder().encode(name);
  const out = new Uint8Array(pkl.length - (spot.end - spot.start) + text.length);
  out.set(pkl.subarray(0, spot.start));
  out.set(text, spot.start);
  out.set(pkl.subarray(spot.end), spot.start + text.length);
  if (spot.binunicode) new DataView(out.buffer).setUint32(spot.start - 4, text.length, true);
  return out;
}

export const PARSER_TARGETS = [safetensorsTarget, configTarget, processorConfigTarget, torchTarget] as const;
