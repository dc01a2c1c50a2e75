// Reading a safetensors header: the 8-byte length prefix, then the JSON, validated so that every tensor's
// dtype, shape and byte range agree and the tensors tile the data section exactly (no gaps, no overlaps).
import { describeValue, errorMessage, isJsonObject } from './json';
import { MAX_SAFETENSORS_HEADER_BYTES, METADATA_KEY, checkDType, fail, failTensor, safetensorsByteLength, type SafetensorsHeader, type SafetensorsTensorInfo } from './safetensors-format';

/**
 * Reads the 8-byte length prefix and returns the full header size (8 + N): how many bytes from
 * the start of the file `readSafetensorsHeader` needs. For streaming: read this many, then parse.
 */
export function safetensorsHeaderBytes(prefix: Uint8Array, fileBytes?: number): number {
  if (prefix.length < 8) {
    fail(`file too short: ${prefix.length} bytes, expected at least 8 (the header length)`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const n = high * 2 ** 32 + low;
  if (n > MAX_SAFETENSORS_HEADER_BYTES) {
    fail(`header length ${n} bytes exceeds the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  }
  if (n < 2) fail(`header length ${n} bytes is too small for a JSON object`);
  if (fileBytes !== undefined && 8 + n > fileBytes) {
    fail(`header length ${n} bytes is longer than the file (${fileBytes} bytes): truncated or not a safetensors file`);
  }
  return 8 + n;
}

function checkOffsets(name: string, offsets: unknown): [number, number] {
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
  ) {
    failTensor(name, `data_offsets must be [begin, end] of non-negative integers, got ${describeValue(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) failTensor(name, `data_offsets [${begin}, ${end}] end before they begin`);
  return [begin, end];
}

/**
 * Parses and validates the header. `bytes` must hold at least `safetensorsHeaderBytes(bytes)` bytes.
 * With `fileBytes` (the whole file's length) the data section must be covered exactly; without it
 * (a stream of unknown length) the caller checks that the stream holds `headerBytes + dataBytes`.
 */
export function readSafetensorsHeader(bytes: Uint8Array, fileBytes?: number): SafetensorsHeader {
  const headerBytes = safetensorsHeaderBytes(bytes, fileBytes);
  if (bytes.length < headerBytes) {
    fail(`need the first ${headerBytes} bytes to read the header, got ${bytes.length}`);
  }
  let json: string;
  try {
    json = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerBytes));
  } catch {
    fail('header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    fail(`header is not valid JSON (${errorMessage(e)})`);
  }
  if (!isJsonObject(parsed)) fail('header must be a JSON object of tensor name → {dtype, shape, data_offsets}');

  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === METADATA_KEY) {
      if (entry === null) continue;
      if (!isJsonObject(entry)) fail(`"__metadata__" must be an object of string → string, got ${describeValue(entry)}`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') fail(`"__metadata__" value for ${describeValue(k)} must be a string, got ${describeValue(v)}`);
        // defineProperty: a key "__proto__" is kept as a key, not taken as the prototype.
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (!isJsonObject(entry)) failTensor(name, `entry must be an object {dtype, shape, data_offsets}, got ${describeValue(entry)}`);
    const dtype = checkDType(name, entry.dtype);
    const shape = entry.shape as number[]; // checked by safetensorsByteLength
    const expected = safetensorsByteLength(name, dtype, shape);
    const [begin, end] = checkOffsets(name, entry.data_offsets);
    if (end - begin !== expected) {
      failTensor(
        name,
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} ${describeValue(shape)} needs ${expected}`,
      );
    }
    tensors.push({ name, dtype, shape: [...shape], begin, end });
  }

  // The tensors must tile the data section: sorted by offset, each starts where the last ended.
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  let previous: string | null = null;
  for (const t of tensors) {
    if (t.begin < position) {
      failTensor(t.name, `data_offsets [${t.begin}, ${t.end}] overlap tensor ${describeValue(previous)} (which ends at ${position})`);
    }
    if (t.begin > position) {
      failTensor(
        t.name,
        `data_offsets [${t.begin}, ${t.end}] leave a hole of ${t.begin - position} unused bytes after ` +
          (previous === null ? 'the header' : `tensor ${describeValue(previous)}`),
      );
    }
    position = t.end;
    previous = t.name;
  }
  const dataBytes = position;
  if (fileBytes !== undefined) {
    const available = fileBytes - headerBytes;
    if (dataBytes > available) {
      const last = tensors[tensors.length - 1];
      failTensor(
        last.name,
        `data ends at byte ${headerBytes + dataBytes} of the file, which has only ${fileBytes} bytes (truncated file?)`,
      );
    }
    if (dataBytes < available) {
      fail(`${available - dataBytes} bytes after the last tensor are not part of any tensor (the data section has ${available} bytes, tensors cover ${dataBytes})`);
    }
  }
  return { headerBytes, dataBytes, tensors, metadata };
}

