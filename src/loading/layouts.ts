// Checkpoint layouts, tried in Hugging Face's order: model.safetensors, model.safetensors.index.json +
// shards, pytorch_model.bin, pytorch_model.bin.index.json + shards. Each file is read by the reader of its
// format into the sink, with byte progress per file and across the checkpoint.
import { readSafetensorsCheckpoint } from './safetensors-stream';
import { readTorchCheckpoint } from './torch';
import { SAFETENSORS_DTYPE_BYTES } from '../safetensors';
import type { FileProvider, OpenedFile } from './sources';
import type { ByteCursor, CheckpointReader, LoadProgress, TensorSink } from './types';
import { describeValue, isJsonObject } from '../json';

export const LAYOUT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'] as const;

/** What the loader needs of the uploader beyond the TensorSink. */
export interface CheckpointSink extends TensorSink {
  /** Called before each file: true for the checkpoint's last, whose declare can check for missing tensors. */
  expectLastFile(last: boolean): void;
}

/** A sharded checkpoint's index, as save_pretrained writes it. */
export interface ShardIndex {
  /** metadata.total_size: bytes of all tensors (undefined when absent). */
  totalSize: number | undefined;
  /** Shard files in the order they are loaded (sorted, each once). */
  shards: string[];
}

/** Checks an index file: weight_map name → shard file (a plain file name), optional metadata.total_size. */
export function parseShardIndex(json: unknown, file: string, format: 'safetensors' | 'bin'): ShardIndex {
  if (!isJsonObject(json)) throw new Error(`${file}: expected a JSON object with "weight_map"`);
  const map = json.weight_map;
  if (!isJsonObject(map)) throw new Error(`${file}: "weight_map" must be an object of tensor name → shard file name`);
  const shards = new Set<string>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string') throw new Error(`${file}: weight_map[${describeValue(name)}] must be a file name, got ${describeValue(shard)}`);
    if (shard.length === 0 || shard.includes('/') || shard.includes('\\') || shard === '.' || shard === '..' || shard.includes('..')) {
      throw new Error(`${file}: weight_map[${describeValue(name)}] is ${describeValue(shard)}; expected a plain file name beside the index (no '/', '\\' or '..')`);
    }
    const ext = format === 'safetensors' ? '.safetensors' : '.bin';
    if (!shard.endsWith(ext)) throw new Error(`${file}: weight_map[${describeValue(name)}] is ${describeValue(shard)}; expected a ${ext} file`);
    shards.add(shard);
  }
  if (shards.size === 0) throw new Error(`${file}: "weight_map" is empty`);
  let totalSize: number | undefined;
  if (json.metadata !== undefined) {
    if (!isJsonObject(json.metadata)) throw new Error(`${file}: "metadata" must be an object`);
    const t = json.metadata.total_size;
    if (t !== undefined) {
      if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) throw new Error(`${file}: metadata.total_size must be a non-negative integer, got ${describeValue(t)}`);
      totalSize = t;
    }
  }
  return { totalSize, shards: [...shards].sort() };
}

/** Bytes between two progress events of one file and phase (network chunks are small; a UI needs far fewer)... */
const PROGRESS_STEP = 1 << 20;
/** ...or this many milliseconds, so that a slow or stalled download still shows where it is. */
const PROGRESS_MS = 200;

/** Byte progress of the checkpoint's files: per file and across them, per phase. */
class ProgressTracker {
  private readonly overall = { download: { loaded: 0, total: 0 }, cached: { loaded: 0, total: 0 }, upload: { loaded: 0, total: 0 } };
  /** Bytes of files not opened yet (estimated from total_size); 0 once all are opened. */
  private estimate = 0;
  private openedTotal = 0;
  private declaredSum = 0;

  constructor(private readonly onProgress: ((p: LoadProgress) => void) | undefined) {}

  /** Tensor bytes of the whole checkpoint, when an index says. */
  setEstimate(bytes: number | undefined): void {
    this.estimate = bytes ?? 0;
    this.overall.upload.total = bytes ?? 0;
  }

  /** Whether the file being read is the checkpoint's last. */
  last = false;

  opened(size: number | undefined, last: boolean): void {
    this.openedTotal += size ?? 0;
    const total = last ? this.openedTotal : Math.max(this.openedTotal, this.estimate);
    this.overall.download.total = total;
    this.overall.cached.total = total;
  }

  read(phase: 'download' | 'cached', file: string, loaded: number, total: number, delta: number): void {
    this.overall[phase].loaded += delta;
    this.report(phase, file, loaded, total);
  }

  upload(file: string, loaded: number, total: number, delta: number): void {
    this.overall.upload.loaded += delta;
    this.report('upload', file, loaded, total);
  }

  /** Latest figures per phase and file, and the `loaded` last reported (events come at most every PROGRESS_STEP bytes). */
  private readonly latest = new Map<
    string,
    { phase: LoadProgress['phase']; file: string; loaded: number; total: number; reported: number; reportedAt: number }
  >();

  private report(phase: LoadProgress['phase'], file: string, loaded: number, total: number, force = false): void {
    const key = `${phase}\n${file}`;
    const l = this.latest.get(key) ?? { phase, file, loaded: 0, total: 0, reported: -1, reportedAt: 0 };
    l.loaded = loaded;
    l.total = total;
    this.latest.set(key, l);
    if (loaded === l.reported) return;
    const now = Date.now();
    // The first bytes of a file, every PROGRESS_STEP bytes or PROGRESS_MS, and its end.
    const due = force || l.reported < 0 || loaded === total || loaded - l.reported >= PROGRESS_STEP || now - l.reportedAt >= PROGRESS_MS;
    if (!due) return;
    l.reported = loaded;
    l.reportedAt = now;
    const o = this.overall[phase];
    this.onProgress?.({ phase, file, loaded, total, overall: { loaded: o.loaded, total: Math.max(o.total, o.loaded) } });
  }

  /** A file was read whole: its last figures go out if they have not. */
  flush(file: string): void {
    for (const l of this.latest.values()) if (l.file === file) this.report(l.phase, file, l.loaded, l.total, true);
  }

  /** Tensor bytes declared by a file; once the last file is declared the upload total is exact. */
  declared(bytes: number, last: boolean): void {
    this.declaredSum += bytes;
    this.overall.upload.total = last ? this.declaredSum : Math.max(this.declaredSum, this.estimate);
  }
}

/** Counts the bytes a reader takes from a cursor (reads, pipes, forward skips) and reports them. */
function countingCursor(inner: ByteCursor, report: (loaded: number, delta: number) => void): ByteCursor {
  let loaded = 0;
  const add = (n: number) => {
    if (n <= 0) return;
    loaded += n;
    report(loaded, n);
  };
  return {
    name: inner.name,
    size: inner.size,
    random: inner.random,
    get position() {
      return inner.position;
    },
    async read(length) {
      const out = await inner.read(length);
      add(out.length);
      return out;
    },
    async pipe(length, onChunk) {
      await inner.pipe(length, (chunk) => {
        onChunk(chunk);
        add(chunk.length);
      });
    },
    async seek(offset) {
      const from = inner.position;
      await inner.seek(offset);
      if (!inner.random) add(offset - from);
    },
    close: () => inner.close(),
  };
}

/** An error that does not say which file it is about (a connection cut mid-body: 'TypeError: terminated') gets the file's name. */
export function nameTheFile(e: unknown, file: string, where: string): unknown {
  if (!(e instanceof Error) || e.name === 'AbortError' || e.message.includes(file)) return e;
  const problem = e instanceof TypeError ? `the download from ${where} failed or broke off (${e.message})` : e.message;
  return new Error(`${file}: ${problem}`, { cause: e });
}

function readerFor(file: string): CheckpointReader {
  return file.endsWith('.safetensors') ? readSafetensorsCheckpoint : readTorchCheckpoint;
}

/**
 * Finds the checkpoint among the four layouts and reads every file of it into `sink`.
 * Throws when none of the four files exists, naming them and where they were looked for.
 */
export async function readCheckpoint(
  files: FileProvider,
  sink: CheckpointSink,
  onProgress: ((p: LoadProgress) => void) | undefined,
): Promise<{ layout: string; files: string[] }> {
  const progress = new ProgressTracker(onProgress);
  const fileOf = new Map<string, string>();
  const uploaded = new Map<string, { loaded: number; total: number }>();
  const trackedSink: CheckpointSink = {
    expectLastFile: (last) => sink.expectLastFile(last),
    declare: (file, tensors) => {
      sink.declare(file, tensors);
      let bytes = 0;
      for (const t of tensors) {
        bytes += t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
        fileOf.set(t.name, file);
      }
      const u = uploaded.get(file) ?? { loaded: 0, total: 0 };
      u.total += bytes;
      uploaded.set(file, u);
      progress.declared(bytes, progress.last);
    },
    data: (name, offset, bytes) => {
      sink.data(name, offset, bytes);
      const file = fileOf.get(name) as string;
      const u = uploaded.get(file) as { loaded: number; total: number };
      u.loaded += bytes.length;
      progress.upload(file, u.loaded, u.total, bytes.length);
    },
  };
  const readOne = async (opened: OpenedFile, file: string, last: boolean): Promise<void> => {
    progress.opened(opened.cursor.size, last);
    const total = opened.cursor.size ?? 0;
    const cursor = countingCursor(opened.cursor, (loaded, delta) => progress.read(opened.phase, file, loaded, total, delta));
    sink.expectLastFile(last);
    progress.last = last;
    let ok = false;
    try {
      await readerFor(file)(cursor, trackedSink);
      ok = true;
      progress.flush(file);
    } catch (e) {
      throw nameTheFile(e, file, files.where(file));
    } finally {
      opened.settle(ok);
      await cursor.close().catch(() => {});
    }
  };

  for (const single of ['model.safetensors', 'pytorch_model.bin'] as const) {
    const indexFile = `${single}.index.json`;
    const opened = await files.open(single, true);
    if (opened) {
      await readOne(opened, single, true);
      return { layout: single, files: [single] };
    }
    const json = await files.json(indexFile);
    if (json !== null) {
      const index = parseShardIndex(json, indexFile, single.endsWith('.safetensors') ? 'safetensors' : 'bin');
      progress.setEstimate(index.totalSize);
      for (let i = 0; i < index.shards.length; i++) {
        const shard = index.shards[i];
        const o = await files.open(shard, true);
        if (!o) throw new Error(`${indexFile} lists ${shard}, which was not found (${files.where(shard)})`);
        await readOne(o, shard, i === index.shards.length - 1);
      }
      return { layout: indexFile, files: index.shards };
    }
  }
  throw new Error(
    `no checkpoint found in ${files.describe()}: tried ${LAYOUT_FILES.join(', ')} (e.g. ${files.where(LAYOUT_FILES[0])})`,
  );
}
