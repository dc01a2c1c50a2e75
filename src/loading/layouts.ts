// Checkpoint layouts, tried in Hugging Face's order: model.safetensors, model.safetensors.index.json +
// shards, pytorch_model.bin, pytorch_model.bin.index.json + shards. Each file is read by the reader of its
// format into the sink, with byte progress per file and across the checkpoint.
import { readSafetensorsCheckpoint } from './safetensors-stream';
import { readTorchCheckpoint } from './torch';
import { SAFETENSORS_DTYPE_BYTES } from '../safetensors';
import type { FileProvider, OpenedFile } from './sources';
import type { ByteCursor, CheckpointReader, LoadProgress, TensorSink } from './types';
import { clip, describeValue, isJsonObject, quote } from '../json';
import { describeCause } from './http';
import { errorCode, ImageGPTError } from '../errors';

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
  if (!isJsonObject(json)) throw new ImageGPTError('E_BAD_FILE', `${file}: expected a JSON object with "weight_map"`);
  const map = json.weight_map;
  if (!isJsonObject(map)) throw new ImageGPTError('E_BAD_FILE', `${file}: "weight_map" must be an object of tensor name → shard file name`);
  const shards = new Set<string>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string') throw new ImageGPTError('E_BAD_FILE', `${file}: weight_map[${describeValue(name)}] must be a file name, got ${describeValue(shard)}`);
    if (shard.length === 0 || shard.includes('/') || shard.includes('\\') || shard === '.' || shard === '..' || shard.includes('..')) {
      throw new ImageGPTError('E_BAD_FILE', `${file}: weight_map[${describeValue(name)}] is ${describeValue(shard)}; expected a plain file name beside the index (no '/', '\\' or '..')`);
    }
    const ext = format === 'safetensors' ? '.safetensors' : '.bin';
    if (!shard.endsWith(ext)) throw new ImageGPTError('E_BAD_FILE', `${file}: weight_map[${describeValue(name)}] is ${describeValue(shard)}; expected a ${ext} file`);
    shards.add(shard);
  }
  if (shards.size === 0) throw new ImageGPTError('E_BAD_FILE', `${file}: "weight_map" is empty`);
  let totalSize: number | undefined;
  if (json.metadata !== undefined) {
    if (!isJsonObject(json.metadata)) throw new ImageGPTError('E_BAD_FILE', `${file}: "metadata" must be an object`);
    const t = json.metadata.total_size;
    if (t !== undefined) {
      if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) throw new ImageGPTError('E_BAD_FILE', `${file}: metadata.total_size must be a non-negative integer, got ${describeValue(t)}`);
      totalSize = t;
    }
  }
  return { totalSize, shards: [...shards].sort() };
}

/** Bytes between two progress events of one file and phase (network chunks are small; a UI needs far fewer)... */
const PROGRESS_STEP = 1 << 20;
/** ...or this many milliseconds, so that a slow or stalled download still shows where it is. */
const PROGRESS_MS = 200;

type Phase = LoadProgress['phase'];

/** The distinct bytes of a file taken so far, as sorted disjoint [start, end) intervals (a zip reader reads its head and tail twice). */
class Coverage {
  private readonly spans: Array<[number, number]> = [];
  covered = 0;

  add(start: number, end: number): void {
    if (end <= start) return;
    const spans = this.spans;
    let i = 0;
    while (i < spans.length && spans[i][1] < start) i++;
    let a = start;
    let b = end;
    let j = i;
    while (j < spans.length && spans[j][0] <= b) {
      a = Math.min(a, spans[j][0]);
      b = Math.max(b, spans[j][1]);
      this.covered -= spans[j][1] - spans[j][0];
      j++;
    }
    spans.splice(i, j - i, [a, b]);
    this.covered += b - a;
  }
}

/** One file in one phase: its figures, and the last ones reported (events come at most every PROGRESS_STEP bytes). */
interface FileFigures {
  phase: Phase;
  file: string;
  loaded: number;
  total: number | undefined;
  reported: number;
  reportedAt: number;
}

/**
 * Byte progress of the checkpoint's files, per file and across them, per phase. Each phase's overall total
 * is fixed at its first event: the single file's size (download / cached) or tensor bytes (upload); for a
 * sharded checkpoint, undefined (download / cached) or the index's total_size (upload), which the uploaded
 * bytes are scaled to once every shard has declared its tensors, so that it ends exactly at the total.
 */
class ProgressTracker {
  private readonly overall: Record<Phase, { loaded: number; total: number | undefined; fixed: boolean; reported: number }> = {
    download: { loaded: 0, total: undefined, fixed: false, reported: 0 },
    cached: { loaded: 0, total: undefined, fixed: false, reported: 0 },
    upload: { loaded: 0, total: undefined, fixed: false, reported: 0 },
  };
  private sharded = false;
  private indexTotal: number | undefined;
  private declaredSum = 0;
  private allDeclared = false;
  private failedCallback = false;
  private readonly files = new Map<string, FileFigures>();

  constructor(
    private readonly onProgress: ((p: LoadProgress) => void) | undefined,
    private readonly warn: (message: string) => void,
  ) {}

  /** A sharded checkpoint, and its index's tensor bytes when it says. */
  setSharded(totalSize: number | undefined): void {
    this.sharded = true;
    this.indexTotal = totalSize;
  }

  private figures(phase: Phase, file: string, total: number | undefined): FileFigures {
    const key = `${phase}\n${file}`;
    let f = this.files.get(key);
    if (!f) {
      f = { phase, file, loaded: 0, total, reported: -1, reportedAt: 0 };
      this.files.set(key, f);
    }
    return f;
  }

  /** Bytes of a weight file read: `loaded` distinct bytes of `total`. */
  read(phase: 'download' | 'cached', file: string, loaded: number, total: number | undefined): void {
    const o = this.overall[phase];
    if (!o.fixed) {
      o.total = this.sharded ? undefined : total;
      o.fixed = true;
    }
    const f = this.figures(phase, file, total);
    o.loaded += loaded - f.loaded;
    f.loaded = loaded;
    this.report(f);
  }

  /** Tensor bytes a file declared; once the last file has declared, the upload's scale is known. */
  declared(bytes: number, last: boolean): void {
    this.declaredSum += bytes;
    if (last) this.allDeclared = true;
  }

  upload(file: string, loaded: number, total: number): void {
    const o = this.overall.upload;
    if (!o.fixed) {
      o.total = this.sharded ? this.indexTotal : total;
      o.fixed = true;
    }
    const f = this.figures('upload', file, total);
    o.loaded += loaded - f.loaded;
    f.loaded = loaded;
    this.report(f);
  }

  /** The overall figure reported: bounded by the total, never decreasing, exactly the total at the end. */
  private overallLoaded(phase: Phase): number {
    const o = this.overall[phase];
    let v = o.loaded;
    if (o.total !== undefined) {
      // An index's total_size may differ from the declared bytes: once those are known, scale to it.
      if (phase === 'upload' && this.sharded && this.allDeclared && this.declaredSum > 0) v = Math.round((o.loaded * o.total) / this.declaredSum);
      v = Math.min(o.total, v);
    }
    o.reported = Math.max(o.reported, v);
    return o.reported;
  }

  private report(f: FileFigures, force = false): void {
    if (f.loaded === f.reported && !force) return;
    const now = Date.now();
    // The first bytes of a file, every PROGRESS_STEP bytes or PROGRESS_MS, and its end.
    const due = force || f.reported < 0 || f.loaded === f.total || f.loaded - f.reported >= PROGRESS_STEP || now - f.reportedAt >= PROGRESS_MS;
    if (!due) return;
    f.reported = f.loaded;
    f.reportedAt = now;
    const o = this.overall[f.phase];
    this.emit({ phase: f.phase, file: f.file, loaded: f.loaded, total: f.total, overall: { loaded: this.overallLoaded(f.phase), total: o.total } });
  }

  /** Calls onProgress: caller code, so a throw or a rejected promise is warned about once and the load goes on. */
  private emit(p: LoadProgress): void {
    if (!this.onProgress) return;
    const failed = (e: unknown) => {
      if (this.failedCallback) return;
      this.failedCallback = true;
      this.warn(`onProgress threw (${describeCause(e)}); the load goes on`);
    };
    try {
      const r: unknown = this.onProgress(p);
      if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') (r as PromiseLike<unknown>).then(undefined, failed);
    } catch (e) {
      failed(e);
    }
  }

  /** A file was read whole: its last figures go out, `loaded === total` (a length unknown so far is the length read). */
  flush(file: string): void {
    for (const f of this.files.values()) {
      if (f.file !== file) continue;
      const o = this.overall[f.phase];
      if (f.phase !== 'upload') {
        const end = f.total ?? f.loaded;
        o.loaded += end - f.loaded;
        f.loaded = end;
        f.total = end;
      }
      this.report(f, true);
    }
  }
}

/** Counts the distinct bytes a reader takes from a cursor (reads, pipes, forward skips) and reports them. */
function countingCursor(inner: ByteCursor, report: (loaded: number) => void): ByteCursor {
  const coverage = new Coverage();
  const add = (start: number, end: number) => {
    const before = coverage.covered;
    coverage.add(start, end);
    if (coverage.covered !== before) report(coverage.covered);
  };
  return {
    name: inner.name,
    size: inner.size,
    random: inner.random,
    get position() {
      return inner.position;
    },
    async read(length) {
      const at = inner.position;
      const out = await inner.read(length);
      add(at, at + out.length);
      return out;
    },
    async pipe(length, onChunk) {
      let at = inner.position;
      await inner.pipe(length, (chunk) => {
        onChunk(chunk);
        add(at, at + chunk.length);
        at += chunk.length;
      });
    },
    async seek(offset) {
      const from = inner.position;
      await inner.seek(offset);
      if (!inner.random) add(from, offset);
    },
    close: () => inner.close(),
  };
}

/**
 * An error that does not say which file it is about (a connection cut mid-body: 'TypeError: terminated') gets the
 * file's name, and one from outside the library (the stream's, the caller's cache's) gets a code.
 */
export function nameTheFile(e: unknown, file: string, where: string): unknown {
  if (!(e instanceof Error) || e.name === 'AbortError' || (errorCode(e) !== undefined && e.message.includes(file))) return e;
  // undici's 'terminated' says why only in its cause ('other side closed'): both are kept in the message.
  const problem = e instanceof TypeError ? `the download from ${clip(where)} failed or broke off (${describeCause(e)})` : e.message;
  // The code says what kind of failure it was: the library's own is kept; a fetch's TypeError is the network's.
  const code = errorCode(e) ?? (e instanceof TypeError ? 'E_NETWORK' : 'E_BAD_FILE');
  return new ImageGPTError(code, `${clip(file)}: ${problem}`, { cause: e });
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
  warn: (message: string) => void = () => {},
): Promise<{ layout: string; files: string[] }> {
  const progress = new ProgressTracker(onProgress, warn);
  const fileOf = new Map<string, string>();
  const uploaded = new Map<string, { loaded: number; total: number }>();
  let lastFile = false;
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
      progress.declared(bytes, lastFile);
    },
    data: (name, offset, bytes) => {
      sink.data(name, offset, bytes);
      const file = fileOf.get(name) as string;
      const u = uploaded.get(file) as { loaded: number; total: number };
      u.loaded += bytes.length;
      progress.upload(file, u.loaded, u.total);
    },
  };
  const readOne = async (opened: OpenedFile, file: string, last: boolean): Promise<void> => {
    const total = opened.cursor.size;
    const cursor = countingCursor(opened.cursor, (loaded) => progress.read(opened.phase, file, loaded, total));
    sink.expectLastFile(last);
    lastFile = last;
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
      progress.setSharded(index.totalSize);
      for (let i = 0; i < index.shards.length; i++) {
        const shard = index.shards[i];
        const o = await files.open(shard, true);
        if (!o) throw new ImageGPTError('E_NOT_FOUND', `${indexFile} lists ${quote(shard)}, which was not found (${clip(files.where(shard))})`);
        await readOne(o, shard, i === index.shards.length - 1);
      }
      return { layout: indexFile, files: index.shards };
    }
  }
  throw new ImageGPTError('E_NOT_FOUND', 
    `no checkpoint found in ${files.describe()}: tried ${LAYOUT_FILES.join(', ')} (e.g. ${files.where(LAYOUT_FILES[0])})`,
  );
}
