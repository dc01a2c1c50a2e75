// Writing safetensors: the layout of a file planned from tensor names, dtypes and shapes (for a streaming
// writer), and a whole file written in memory.
import { describeValue, isJsonObject } from './json';
import {
  MAX_SAFETENSORS_HEADER_BYTES,
  METADATA_KEY,
  SAFETENSORS_DTYPE_BYTES,
  checkDType,
  fail,
  failTensor,
  safetensorsByteLength,
  type SafetensorsDType,
  type SafetensorsTensorInfo,
} from './safetensors-format';

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
}

export interface SafetensorsPlan {
  /** Length prefix + JSON header (space-padded to a multiple of 8): the file's first bytes. */
  header: Uint8Array;
  /** The order the data must be written in, with offsets relative to the data section. */
  tensors: SafetensorsTensorInfo[];
  /** header.length + the data section. */
  totalBytes: number;
}

/**
 * Lays out a file before any data exists, for a streaming writer: write `header`, then each
 * tensor's bytes in `tensors` order. Wider dtypes come first (stable otherwise) so that every
 * tensor starts aligned to its element size and typed-array views on the file work.
 */
export function planSafetensors(entries: readonly SafetensorsEntry[], metadata: Record<string, string> = {}): SafetensorsPlan {
  if (!Array.isArray(entries as unknown)) fail(`expected an array of tensors { name, dtype, shape }, got ${describeValue(entries)}`, 'E_BAD_INPUT');
  if (!isJsonObject(metadata)) fail(`metadata must be an object of string → string, got ${describeValue(metadata)}`, 'E_BAD_INPUT');
  const seen = new Set<string>();
  for (const e of entries as unknown[]) {
    if (!isJsonObject(e)) fail(`expected a tensor { name, dtype, shape }, got ${describeValue(e)}`, 'E_BAD_INPUT');
    if (typeof e.name !== 'string' || e.name.length === 0) fail(`tensor name must be a non-empty string, got ${describeValue(e.name)}`, 'E_BAD_INPUT');
    if (e.name === METADATA_KEY) failTensor(e.name, 'this name is reserved for metadata', 'E_BAD_INPUT');
    if (seen.has(e.name)) failTensor(e.name, 'appears twice', 'E_BAD_INPUT');
    seen.add(e.name);
    safetensorsByteLength(e.name, checkDType(e.name, e.dtype, 'E_BAD_INPUT'), e.shape as number[], 'E_BAD_INPUT');
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') fail(`metadata value for ${describeValue(k)} must be a string, got ${describeValue(v)}`, 'E_BAD_INPUT');
  }
  const ordered = [...entries].sort((a, b) => SAFETENSORS_DTYPE_BYTES[b.dtype] - SAFETENSORS_DTYPE_BYTES[a.dtype]);
  // No prototype: a tensor named "__proto__" must become a key, not the object's prototype.
  const json: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (Object.keys(metadata).length > 0) json[METADATA_KEY] = metadata;
  const tensors: SafetensorsTensorInfo[] = [];
  let position = 0;
  for (const e of ordered) {
    const bytes = safetensorsByteLength(e.name, e.dtype, e.shape);
    const info = { name: e.name, dtype: e.dtype, shape: [...e.shape], begin: position, end: position + bytes };
    json[e.name] = { dtype: info.dtype, shape: info.shape, data_offsets: [info.begin, info.end] };
    tensors.push(info);
    position += bytes;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.length / 8) * 8;
  if (padded > MAX_SAFETENSORS_HEADER_BYTES) fail(`header would be ${padded} bytes, above the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit`, 'E_BAD_INPUT');
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.length);
  const view = new DataView(header.buffer);
  view.setUint32(0, padded, true);
  view.setUint32(4, 0, true);
  header.set(text, 8);
  return { header, tensors, totalBytes: header.length + position };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Writes a whole safetensors file in memory. Each `data` must hold exactly shape × dtype-size bytes. */
export function writeSafetensors(
  tensors: Array<{ name: string; dtype: SafetensorsDType; shape: number[]; data: ArrayBufferView }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const plan = planSafetensors(tensors, metadata);
  for (const t of tensors) {
    if (!ArrayBuffer.isView(t.data)) failTensor(t.name, `data must be a typed array or DataView, got ${describeValue(t.data)}`, 'E_BAD_INPUT');
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.header, 0);
  for (const info of plan.tensors) {
    const data = bytesOf(byName.get(info.name)!.data);
    if (data.byteLength !== info.end - info.begin) {
      failTensor(info.name, `data has ${data.byteLength} bytes, but ${info.dtype} ${describeValue(info.shape)} needs ${info.end - info.begin}`, 'E_BAD_INPUT');
    }
    out.set(data, plan.header.length + info.begin);
  }
  return out;
}
