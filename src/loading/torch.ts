// torch.save checkpoints (`pytorch_model.bin`, torch ≥ 1.6 zip format) read without Python: the state
// dict's pickle (`<root>/data.pkl`) names each tensor's storage, dtype, offset, shape and strides; the
// storages are the entries `<root>/data/<key>`, read by offset only when a tensor's bytes are needed.
import { open } from 'node:fs/promises';
import { SAFETENSORS_DTYPE_BYTES, type SafetensorsDType } from '../src/safetensors';
import { PickleDict, PickleGlobal, unpickle, type PickleValue } from './pickle';
import { ZipFile, crc32, type ZipEntry } from './zip';
import type { Checkpoint, CheckpointTensor } from './checkpoint';

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

const isGlobal = (v: PickleValue, module: string, name: string) =>
  v instanceof PickleGlobal && v.module === module && v.name === name;

function isRecord<K extends string>(v: PickleValue, kind: K): v is { kind: K } & object {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === kind;
}

function intList(v: PickleValue, what: string): number[] {
  if (!Array.isArray(v) || !v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${what} must be a tuple of non-negative integers, got ${JSON.stringify(v)}`);
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
        if (!isRecord(storage, 'storage')) throw new Error(`${what}: _rebuild_tensor_v2 without a storage`);
        if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
          throw new Error(`${what}: tensor storage offset must be a non-negative integer, got ${JSON.stringify(offset)}`);
        }
        const shape = intList(size, `${what}: tensor size`);
        const strides = intList(stride, `${what}: tensor stride`);
        if (strides.length !== shape.length) throw new Error(`${what}: tensor size ${JSON.stringify(shape)} and stride ${JSON.stringify(strides)} differ in rank`);
        const record: TorchTensorRecord = { kind: 'tensor', storage: storage as TorchStorage, offset, shape, stride: strides };
        return record;
      }
      if (isGlobal(callable, 'torch._utils', '_rebuild_parameter')) {
        if (!isRecord(args[0], 'tensor')) throw new Error(`${what}: _rebuild_parameter without a tensor`);
        return args[0];
      }
      throw new Error(
        `${what}: refusing to call ${String(callable)} — a state dict of tensors needs only collections.OrderedDict, ` +
          'torch._utils._rebuild_tensor_v2 and torch._utils._rebuild_parameter',
      );
    },
    build(obj: PickleValue, state: PickleValue): PickleValue {
      // An OrderedDict's state is its attributes: nn.Module's `_metadata` (module versions). Not needed.
      if (obj instanceof PickleDict && (state instanceof PickleDict || state === null)) return obj;
      throw new Error(`${what}: refusing to set the state of ${obj instanceof PickleGlobal ? obj.toString() : typeof obj}`);
    },
    persistentLoad(pid: PickleValue): PickleValue {
      // ('storage', torch.FloatStorage, key, location, numel)
      if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
        throw new Error(`${what}: unsupported persistent id ${JSON.stringify(pid)}, expected ('storage', class, key, location, numel)`);
      }
      const [, cls, key, , numel] = pid;
      if (!(cls instanceof PickleGlobal) || cls.module !== 'torch' || !(cls.name in STORAGE_DTYPES)) {
        throw new Error(`${what}: unsupported storage type ${String(cls)} (expected one of ${Object.keys(STORAGE_DTYPES).map((s) => 'torch.' + s).join(', ')})`);
      }
      if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
        throw new Error(`${what}: malformed storage record ${JSON.stringify(pid.slice(2))}`);
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

/** Copies a strided view out of `span` (which starts at the view's first element) into row-major order. */
function gather(span: Uint8Array, shape: number[], stride: number[], elementBytes: number): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(count * elementBytes);
  const rank = shape.length;
  const inner = shape[rank - 1];
  const innerContiguous = stride[rank - 1] === 1;
  const index = new Array<number>(rank - 1).fill(0);
  let written = 0;
  for (let row = 0; row < count / inner; row++) {
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

/** Opens a torch.save zip checkpoint holding a state dict; tensors are read lazily, one at a time. */
export async function openTorchCheckpoint(path: string): Promise<Checkpoint> {
  const zip = await ZipFile.open(path).catch(async (e: unknown) => {
    // The legacy (torch < 1.6) format is a bare pickle stream: say so rather than "not a zip".
    const f = await open(path, 'r');
    const head = new Uint8Array(2);
    await f.read(head, 0, 2, 0).finally(() => f.close());
    if (head[0] === 0x80 && head[1] <= 5) {
      throw new Error(`${path}: this is torch's legacy (pre-1.6) checkpoint format, which is not supported; re-save it with a newer torch (torch.save(torch.load(f), f2))`);
    }
    throw e;
  });
  try {
    const pkl = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkl.length !== 1) throw new Error(`${path}: expected one "<root>/data.pkl" in the archive, found ${pkl.length} (not a torch.save checkpoint?)`);
    const root = pkl[0].slice(0, -'data.pkl'.length);
    const byteorder = zip.entries.get(root + 'byteorder');
    if (byteorder) {
      const order = new TextDecoder().decode(await zip.read(byteorder)).trim();
      if (order !== 'little') throw new Error(`${path}: tensors are stored ${order}-endian; only little-endian is supported`);
    }
    const state = unpickle(await zip.read(zip.entry(pkl[0])), stateDictHooks(`${path}: data.pkl`), `${path}: data.pkl`);
    if (!(state instanceof PickleDict)) throw new Error(`${path}: the pickle holds ${typeof state}, expected a state dict (name → tensor)`);

    const tensors: CheckpointTensor[] = [];
    for (const [name, value] of state.map) {
      if (typeof name !== 'string') throw new Error(`${path}: state dict key ${JSON.stringify(name)} is not a string`);
      if (!isRecord(value, 'tensor')) throw new Error(`${path}: state dict entry "${name}" is not a tensor`);
      tensors.push(torchTensor(zip, root, name, value as TorchTensorRecord));
    }
    return { path, format: 'torch', tensors, metadata: {}, close: () => zip.close() };
  } catch (e) {
    await zip.close();
    throw e;
  }
}

function torchTensor(zip: ZipFile, root: string, name: string, t: TorchTensorRecord): CheckpointTensor {
  const { storage, offset, shape, stride } = t;
  const elementBytes = SAFETENSORS_DTYPE_BYTES[storage.dtype];
  const count = shape.reduce((a, b) => a * b, 1);
  const where = `${zip.path}: tensor "${name}"`;
  // The last element the view touches; the view must lie inside its storage.
  const last = offset + shape.reduce((acc, d, i) => acc + (d - 1) * stride[i], 0);
  if (count > 0 && last >= storage.numel) {
    throw new Error(`${where}: its view (offset ${offset}, shape ${JSON.stringify(shape)}, stride ${JSON.stringify(stride)}) reaches element ${last} of a storage of ${storage.numel}`);
  }
  const standard = contiguousStrides(shape);
  const contiguous = shape.every((d, i) => d <= 1 || stride[i] === standard[i]);
  const entryName = `${root}data/${storage.key}`;
  const read = async (): Promise<Uint8Array> => {
    const entry: ZipEntry = zip.entry(entryName);
    if (entry.size !== storage.numel * elementBytes) {
      throw new Error(`${where}: storage entry "${entryName}" has ${entry.size} bytes, expected ${storage.numel} × ${elementBytes} (corrupt file)`);
    }
    if (count === 0) return new Uint8Array(0);
    const first = offset * elementBytes;
    const spanBytes = (contiguous ? count : last - offset + 1) * elementBytes;
    let span: Uint8Array;
    if (entry.method !== 0) {
      span = (await zip.read(entry)).subarray(first, first + spanBytes); // compressed (not torch's own writer): whole entry
    } else {
      span = await zip.readRange(entry, first, spanBytes);
      if (spanBytes === entry.size) zip.checkCrc(entry, crc32(span)); // only whole storages can be checked
    }
    return contiguous ? span : gather(span, shape, stride, elementBytes);
  };
  return { name, dtype: storage.dtype, shape, read };
}
