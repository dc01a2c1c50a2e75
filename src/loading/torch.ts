// torch.save checkpoints (`pytorch_model.bin`, torch ≥ 1.6 zip format) read without Python, streamed: the
// state dict's pickle (`<root>/data.pkl`, first in torch's files) names each tensor's storage, dtype, offset,
// shape and strides; the storages (`<root>/data/<key>`) follow, and each one's bytes are routed to the tensors
// that view it as they arrive. Contiguous views pass through chunk by chunk; a strided view (a transpose, a
// column slice) holds just its span of the storage and is gathered into row-major order when complete.
import { SAFETENSORS_DTYPE_BYTES, type SafetensorsDType } from '../safetensors';
import { clip, quote, quoteList } from '../json';
import { PickleDict, PickleGlobal, describePickle, unpickle, type PickleValue } from './pickle';
import { ZipReader, type ZipEntry } from './zip';
import type { ByteCursor, CheckpointReader, TensorInfo, TensorSink } from './types';
import { ImageGPTError } from '../errors';

/** Far more than the pickle of any state dict (imagegpt-large's is well under 1 MiB). */
const PICKLE_MAX_BYTES = 64 << 20;
/** torch's small records (version, byteorder, serialization id). */
const RECORD_MAX_BYTES = 1 << 20;

/** torch's legacy storage classes, which torch.save records for every storage (also in torch 2.x). */
const STORAGE_DTYPES: Record<string, SafetensorsDType> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

interface TorchStorage {
  kind: 'storage';
  key: string;
  dtype: SafetensorsDType;
  /** Elements, as recorded in the pickle. */
  numel: number;
}

interface TorchTensorRecord {
  kind: 'tensor';
  storage: TorchStorage;
  offset: number;
  shape: number[];
  stride: number[];
}

/** One tensor's view of its storage, in bytes. */
interface View {
  name: string;
  shape: number[];
  stride: number[];
  elementBytes: number;
  byteLength: number;
  contiguous: boolean;
  /** Bytes of the storage the view touches: [spanStart, spanStart + spanBytes) (= the tensor when contiguous). */
  spanStart: number;
  spanBytes: number;
}

interface StorageUse {
  key: string;
  dtype: SafetensorsDType;
  bytes: number;
  views: View[];
}

/** A state dict as data.pkl declares it. */
export interface TorchStateDict {
  /** The archive's root folder, with its trailing slash (`archive/` for torch, the file's stem for older ones). */
  root: string;
  tensors: TensorInfo[];
  /** By storage key: the storage's size and the views that read it. */
  storages: Map<string, StorageUse>;
}

const isGlobal = (v: PickleValue, module: string, name: string) =>
  v instanceof PickleGlobal && v.module === module && v.name === name;

function isRecord<K extends string>(v: PickleValue, kind: K): v is { kind: K } & object {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === kind;
}

function intList(v: PickleValue, what: string): number[] {
  if (!Array.isArray(v) || !v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new ImageGPTError('E_BAD_FILE', `${what} must be a tuple of non-negative integers, got ${describePickle(v)}`);
  }
  return v as number[];
}

/** The hooks that let the pickle build exactly a state dict of tensors, and nothing else. */
function stateDictHooks(what: string) {
  return {
    reduce(callable: PickleValue, args: PickleValue[]): PickleValue {
      if (isGlobal(callable, 'collections', 'OrderedDict') && args.length === 0) return new PickleDict();
      if (isGlobal(callable, 'torch._utils', '_rebuild_tensor_v2')) {
        const [storage, offset, size, stride] = args;
        if (!isRecord(storage, 'storage')) throw new ImageGPTError('E_BAD_FILE', `${what}: _rebuild_tensor_v2 without a storage`);
        if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
          throw new ImageGPTError('E_BAD_FILE', `${what}: tensor storage offset must be a non-negative integer, got ${describePickle(offset)}`);
        }
        const shape = intList(size, `${what}: tensor size`);
        const strides = intList(stride, `${what}: tensor stride`);
        if (strides.length !== shape.length) {
          throw new ImageGPTError('E_BAD_FILE', `${what}: tensor size ${describePickle(shape)} and stride ${describePickle(strides)} differ in rank`);
        }
        const record: TorchTensorRecord = { kind: 'tensor', storage: storage as TorchStorage, offset, shape, stride: strides };
        return record;
      }
      if (isGlobal(callable, 'torch._utils', '_rebuild_parameter')) {
        if (!isRecord(args[0], 'tensor')) throw new ImageGPTError('E_BAD_FILE', `${what}: _rebuild_parameter without a tensor`);
        return args[0];
      }
      throw new ImageGPTError('E_BAD_FILE', 
        `${what}: refusing to call ${describePickle(callable)} — a state dict of tensors needs only collections.OrderedDict, ` +
          'torch._utils._rebuild_tensor_v2 and torch._utils._rebuild_parameter',
      );
    },
    build(obj: PickleValue, state: PickleValue): PickleValue {
      // An OrderedDict's state is its attributes: nn.Module's `_metadata` (module versions). Not needed.
      if (obj instanceof PickleDict && (state instanceof PickleDict || state === null)) return obj;
      throw new ImageGPTError('E_BAD_FILE', `${what}: refusing to set the state of ${describePickle(obj)}`);
    },
    persistentLoad(pid: PickleValue): PickleValue {
      // ('storage', torch.FloatStorage, key, location, numel)
      if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
        throw new ImageGPTError('E_UNSUPPORTED', `${what}: unsupported persistent id ${describePickle(pid)}, expected ('storage', class, key, location, numel)`);
      }
      const [, cls, key, , numel] = pid;
      if (!(cls instanceof PickleGlobal) || cls.module !== 'torch' || !Object.hasOwn(STORAGE_DTYPES, cls.name)) {
        throw new ImageGPTError('E_UNSUPPORTED', 
          `${what}: unsupported storage type ${describePickle(cls)} (expected one of ${Object.keys(STORAGE_DTYPES).map((s) => 'torch.' + s).join(', ')})`,
        );
      }
      if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel * 8) || numel < 0) {
        throw new ImageGPTError('E_BAD_FILE', `${what}: malformed storage record ${describePickle(pid.slice(2))}`);
      }
      const storage: TorchStorage = { kind: 'storage', key, dtype: STORAGE_DTYPES[cls.name], numel };
      return storage;
    },
  };
}

function contiguousStrides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = step;
    step *= shape[i];
  }
  return s;
}

/** Elements of a shape; a count beyond 2^53 is an error naming `what`. */
function elements(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) n *= d;
  if (!Number.isSafeInteger(n)) throw new ImageGPTError('E_BAD_FILE', `${what}: shape ${describePickle(shape)} has more elements than can be represented`);
  return n;
}

function tensorView(name: string, t: TorchTensorRecord, where: string): View {
  const { storage, offset, shape, stride } = t;
  const what = `${where}: tensor ${quote(name)}`;
  const elementBytes = SAFETENSORS_DTYPE_BYTES[storage.dtype];
  const count = elements(shape, what);
  // The last element the view touches; the view must lie inside its storage.
  let last = offset;
  for (let i = 0; i < shape.length; i++) if (shape[i] > 0) last += (shape[i] - 1) * stride[i];
  if (count > 0 && (!Number.isSafeInteger(last) || last >= storage.numel)) {
    throw new ImageGPTError('E_BAD_FILE', 
      `${what}: its view (offset ${offset}, shape ${describePickle(shape)}, stride ${describePickle(stride)}) reaches element ${last} of a storage of ${storage.numel}`,
    );
  }
  // Overlapping views (stride 0, expand) would repeat storage bytes: never in a state dict, and a way to
  // declare a huge tensor over a tiny storage.
  if (count > storage.numel) {
    throw new ImageGPTError('E_UNSUPPORTED', `${what}: its view has ${count} elements but its storage only ${storage.numel} (overlapping strides are not supported)`);
  }
  const standard = contiguousStrides(shape);
  const contiguous = shape.every((d, i) => d <= 1 || stride[i] === standard[i]);
  const spanElements = count === 0 ? 0 : contiguous ? count : last - offset + 1;
  return {
    name,
    shape,
    stride,
    elementBytes,
    byteLength: count * elementBytes,
    contiguous,
    spanStart: offset * elementBytes,
    spanBytes: spanElements * elementBytes,
  };
}

/** Parses data.pkl into the tensors it declares and the storages they view. `where` names the file. */
export function parseTorchStateDict(pkl: Uint8Array, root: string, where: string): TorchStateDict {
  const what = `${where}: ${clip(`${root}data.pkl`)}`;
  const state = unpickle(pkl, stateDictHooks(what), what);
  if (!(state instanceof PickleDict)) throw new ImageGPTError('E_BAD_FILE', `${where}: the pickle holds ${describePickle(state)}, expected a state dict (name → tensor)`);
  const tensors: TensorInfo[] = [];
  const storages = new Map<string, StorageUse>();
  for (const [name, value] of state.map) {
    if (typeof name !== 'string') throw new ImageGPTError('E_BAD_FILE', `${where}: state dict key ${describePickle(name)} is not a string`);
    if (!isRecord(value, 'tensor')) throw new ImageGPTError('E_BAD_FILE', `${where}: state dict entry ${quote(name)} is ${describePickle(value)}, not a tensor`);
    const record = value as TorchTensorRecord;
    const { key, dtype, numel } = record.storage;
    const view = tensorView(name, record, where);
    tensors.push({ name, dtype, shape: record.shape });
    const use = storages.get(key);
    if (!use) {
      storages.set(key, { key, dtype, bytes: numel * SAFETENSORS_DTYPE_BYTES[dtype], views: [view] });
    } else if (use.dtype !== dtype || use.bytes !== numel * SAFETENSORS_DTYPE_BYTES[dtype]) {
      throw new ImageGPTError('E_BAD_FILE', `${where}: storage ${quote(key)} is recorded twice with different types or sizes (${use.dtype}, ${dtype})`);
    } else {
      use.views.push(view);
    }
  }
  return { root, tensors, storages };
}

/** Copies a strided view out of `span` (which starts at the view's first element) into row-major order. */
function gather(span: Uint8Array, v: View): Uint8Array {
  const { shape, stride, elementBytes } = v;
  const out = new Uint8Array(v.byteLength);
  if (out.length === 0) return out;
  const rank = shape.length;
  const inner = shape[rank - 1];
  const innerContiguous = stride[rank - 1] === 1;
  const index = new Array<number>(rank - 1).fill(0);
  const rows = v.byteLength / elementBytes / inner;
  let written = 0;
  for (let row = 0; row < rows; row++) {
    let base = 0;
    for (let d = 0; d < rank - 1; d++) base += index[d] * stride[d];
    if (innerContiguous) {
      out.set(span.subarray(base * elementBytes, (base + inner) * elementBytes), written);
      written += inner * elementBytes;
    } else {
      for (let j = 0; j < inner; j++) {
        const at = (base + j * stride[rank - 1]) * elementBytes;
        out.set(span.subarray(at, at + elementBytes), written);
        written += elementBytes;
      }
    }
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

/** Routes one storage's bytes, arriving in order, to the views of it. */
class StorageRouter {
  private at = 0;
  private readonly spans = new Map<View, Uint8Array>();

  constructor(
    private readonly views: readonly View[],
    private readonly sink: Pick<TensorSink, 'data'>,
  ) {}

  readonly chunk = (chunk: Uint8Array): void => {
    const start = this.at;
    const end = start + chunk.length;
    this.at = end;
    for (const v of this.views) {
      const lo = Math.max(start, v.spanStart);
      const hi = Math.min(end, v.spanStart + v.spanBytes);
      if (lo >= hi) continue;
      const piece = chunk.subarray(lo - start, hi - start);
      if (v.contiguous) {
        this.sink.data(v.name, lo - v.spanStart, piece);
      } else {
        let span = this.spans.get(v);
        if (!span) this.spans.set(v, (span = new Uint8Array(v.spanBytes)));
        span.set(piece, lo - v.spanStart);
      }
    }
  };

  /** After the whole storage: the strided views, gathered. */
  finish(): void {
    for (const v of this.views) {
      if (v.contiguous || v.byteLength === 0) continue;
      const span = this.spans.get(v);
      if (!span) throw new ImageGPTError('E_BAD_FILE', `tensor ${quote(v.name)}: its storage ended before its bytes`);
      this.spans.delete(v);
      this.sink.data(v.name, 0, gather(span, v));
    }
  }
}

const PKL = /^([^/]+\/)data\.pkl$/;

function notZip(name: string): (head: Uint8Array) => Error {
  return (head) =>
    // The legacy (torch < 1.6) format is a bare pickle stream: say so rather than "not a zip".
    head.length >= 2 && head[0] === 0x80 && head[1] <= 5
      ? new ImageGPTError('E_UNSUPPORTED', 
          `${clip(name)}: this is torch's legacy (pre-1.6) checkpoint format, which is not supported; ` +
            're-save it with a newer torch (torch.save(torch.load(f), f2))',
        )
      : new ImageGPTError('E_BAD_FILE', `${clip(name)}: not a torch.save checkpoint (a zip archive) — its first bytes are not a zip header`);
}

function checkByteorder(bytes: Uint8Array, where: string): void {
  const order = new TextDecoder().decode(bytes).trim();
  if (order !== 'little') throw new ImageGPTError('E_UNSUPPORTED', `${where}: tensors are stored ${describePickle(order)}-endian; only little-endian is supported`);
}

/**
 * Reads a torch.save checkpoint from a cursor into a sink: every tensor is declared (from data.pkl) before
 * any data, then each storage streams to the tensors that view it. Random cursors read the central
 * directory first; forward-only ones walk the archive front to back (data.pkl must come before the storages,
 * as torch writes it). `attn.bias`-style buffers are declared like any tensor.
 */
export const readTorchCheckpoint: CheckpointReader = async (cursor: ByteCursor, sink: TensorSink): Promise<void> => {
  const where = clip(cursor.name);
  const zip = await ZipReader.open(cursor, notZip(where));
  let state: TorchStateDict | undefined;
  if (zip.directory) {
    const pkl = zip.directory.filter((e) => PKL.test(e.name));
    if (pkl.length !== 1) throw new ImageGPTError('E_BAD_FILE', `${where}: expected one "<root>/data.pkl" in the archive, found ${pkl.length} (not a torch.save checkpoint?)`);
    const root = PKL.exec(pkl[0].name)![1];
    const byteorder = zip.entry(root + 'byteorder');
    if (byteorder) checkByteorder(await zip.read(byteorder, RECORD_MAX_BYTES), where);
    state = parseTorchStateDict(await zip.read(pkl[0], PICKLE_MAX_BYTES), root, where);
  }
  let declared = false;
  const declare = (s: TorchStateDict) => {
    if (!declared) sink.declare(where, s.tensors);
    declared = true;
  };
  const done = new Set<string>();
  for (let entry = await zip.next(); entry; entry = await zip.next()) {
    if (!state) {
      const m = PKL.exec(entry.name);
      if (m) state = parseTorchStateDict(await zip.read(entry, PICKLE_MAX_BYTES), m[1], where);
      else if (/\/data\/[^/]+$/.test(entry.name)) {
        throw new ImageGPTError('E_UNSUPPORTED', 
          `${where}: storage ${quote(entry.name)} comes before data.pkl, which a front-to-back read needs first ` +
            '(re-saved by another zip tool?); load it from a file or a server with Range support',
        );
      }
      continue; // other records before data.pkl are skipped (CRC-checked)
    }
    if (entry.name === state.root + 'byteorder') {
      if (!zip.directory) checkByteorder(await zip.read(entry, RECORD_MAX_BYTES), where);
      continue;
    }
    if (!entry.name.startsWith(state.root + 'data/')) continue;
    const key = entry.name.slice(state.root.length + 'data/'.length);
    const use = state.storages.get(key);
    if (!use) continue; // a storage no tensor views
    if (done.has(key)) throw new ImageGPTError('E_BAD_FILE', `${where}: storage ${quote(entry.name)} appears twice in the archive (corrupt zip)`);
    declare(state);
    await pipeStorage(zip, entry, use, sink, where);
    done.add(key);
  }
  if (!state) throw new ImageGPTError('E_BAD_FILE', `${where}: no "<root>/data.pkl" in the archive (not a torch.save checkpoint?)`);
  declare(state);
  for (const use of state.storages.values()) {
    if (done.has(use.key) || use.views.every((v) => v.byteLength === 0)) continue;
    throw new ImageGPTError('E_BAD_FILE', 
      `${where}: storage ${quote(`${state.root}data/${use.key}`)} of tensor${use.views.length > 1 ? 's' : ''} ` +
        `${quoteList(use.views.map((v) => v.name))} is missing from the archive (truncated or corrupt file)`,
    );
  }
};

async function pipeStorage(zip: ZipReader, entry: ZipEntry, use: StorageUse, sink: Pick<TensorSink, 'data'>, where: string): Promise<void> {
  if (entry.size !== undefined && entry.size !== use.bytes) {
    throw new ImageGPTError('E_BAD_FILE', `${where}: storage entry ${quote(entry.name)} has ${entry.size} bytes, data.pkl says ${use.bytes} (${use.dtype}; corrupt file)`);
  }
  const router = new StorageRouter(use.views, sink);
  await zip.pipe(entry, router.chunk, use.bytes);
  router.finish();
}

/** A tensor of a checkpoint opened for random access: its bytes read on demand (row-major, contiguous). */
export interface TorchTensor extends TensorInfo {
  /** Reads the tensor (its whole storage streams through, CRC-checked). One read at a time per archive. */
  read(): Promise<Uint8Array>;
}

/** Random access to a torch.save checkpoint (Node tools): the declared tensors, each read on demand. */
export async function openTorchCheckpoint(cursor: ByteCursor): Promise<TorchTensor[]> {
  const where = clip(cursor.name);
  if (!cursor.random) throw new ImageGPTError('E_INTERNAL', `${where}: reading tensors one at a time needs a random-access cursor`);
  const zip = await ZipReader.open(cursor, notZip(where));
  const directory = zip.directory!;
  const pkl = directory.filter((e) => PKL.test(e.name));
  if (pkl.length !== 1) throw new ImageGPTError('E_BAD_FILE', `${where}: expected one "<root>/data.pkl" in the archive, found ${pkl.length} (not a torch.save checkpoint?)`);
  const root = PKL.exec(pkl[0].name)![1];
  const byteorder = zip.entry(root + 'byteorder');
  if (byteorder) checkByteorder(await zip.read(byteorder, RECORD_MAX_BYTES), where);
  const state = parseTorchStateDict(await zip.read(pkl[0], PICKLE_MAX_BYTES), root, where);
  const viewOf = new Map<string, { use: StorageUse; view: View }>();
  for (const use of state.storages.values()) for (const view of use.views) viewOf.set(view.name, { use, view });
  return state.tensors.map((t) => ({
    ...t,
    read: async () => {
      const { use, view } = viewOf.get(t.name)!;
      const out = new Uint8Array(view.byteLength);
      if (out.length === 0) return out;
      const entryName = `${root}data/${use.key}`;
      const entry = zip.entry(entryName);
      if (!entry) throw new ImageGPTError('E_BAD_FILE', `${where}: storage ${quote(entryName)} of tensor ${quote(t.name)} is missing from the archive (corrupt file)`);
      await pipeStorage(zip, entry, { ...use, views: [view] }, { data: (_name, at, bytes) => out.set(bytes, at) }, where);
      return out;
    },
  }));
}
