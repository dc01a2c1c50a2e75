import { describe, it, expect } from 'vitest';
import {
  parseSafetensors,
  planSafetensors,
  readSafetensorsHeader,
  safetensorsHeaderBytes,
  tensorToFloat32,
  writeSafetensors,
  type SafetensorsDType,
  type SafetensorsTensor,
} from '../../src/safetensors';
import { float32ArrayToFloat16 } from '../../src/f16';

// A file with a hand-written header (string or object) and `dataBytes` of data: for malformed cases.
function rawFile(header: string | object, dataBytes: number, lengthField?: number): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + dataBytes);
  new DataView(out.buffer).setUint32(0, lengthField ?? text.length, true);
  out.set(text, 8);
  for (let i = 0; i < dataBytes; i++) out[8 + text.length + i] = i & 255;
  return out;
}

const f32 = (shape: number[], begin: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)],
});

describe('safetensors round trip', () => {
  it('writes and reads back every dtype, shape and the metadata', () => {
    const a = new Float32Array([1.5, -2, 3.25, 0, 1e-8, -7]);
    const h = float32ArrayToFloat16(new Float32Array([0.5, -1, 65504]));
    const bf = new Uint16Array([0x3f80, 0xc000]);
    const d = new Float64Array([Math.PI]);
    const i64 = new BigInt64Array([-3n, 1n << 40n]);
    const i8 = new Int8Array([-128, 0, 127]);
    const bool = new Uint8Array([1, 0, 1, 1]);
    const tensors: Array<{ name: string; dtype: SafetensorsDType; shape: number[]; data: ArrayBufferView }> = [
      { name: 'h', dtype: 'F16', shape: [3], data: h }, // narrow first: the writer must still align the wide ones
      { name: 'a', dtype: 'F32', shape: [2, 3], data: a },
      { name: 'bf', dtype: 'BF16', shape: [2], data: bf },
      { name: 'scalar', dtype: 'F64', shape: [], data: d },
      { name: 'ids', dtype: 'I64', shape: [2], data: i64 },
      { name: 'i8', dtype: 'I8', shape: [3, 1], data: i8 },
      { name: 'mask', dtype: 'BOOL', shape: [2, 2], data: bool },
      { name: 'empty', dtype: 'I32', shape: [0, 5], data: new Int32Array(0) },
    ];
    const bytes = writeSafetensors(tensors, { format: 'pt', note: 'ünïcode' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);

    const file = parseSafetensors(bytes);
    expect(file.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect([...file.tensors.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
    for (const t of tensors) {
      const got = file.tensors.get(t.name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect([...got.data]).toEqual([...new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
      expect(got.data.buffer).toBe(bytes.buffer); // a view, not a copy
      const elementBytes = (t.data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      expect(got.data.byteOffset % elementBytes).toBe(0);
    }
    expect([...tensorToFloat32(file.tensors.get('a')!)]).toEqual([...a]);
    expect([...tensorToFloat32(file.tensors.get('h')!)]).toEqual([0.5, -1, 65504]);
    expect([...tensorToFloat32(file.tensors.get('bf')!)]).toEqual([1, -2]);
    expect(tensorToFloat32(file.tensors.get('scalar')!)[0]).toBe(Math.fround(Math.PI));
    expect(() => tensorToFloat32(file.tensors.get('ids')!)).toThrow(/"ids".*I64 cannot be read as float32/);
    expect(() => tensorToFloat32(file.tensors.get('ids')!)).toThrow(expect.objectContaining({ code: 'E_UNSUPPORTED' }));
  });

  it('parses an ArrayBuffer and an unaligned Uint8Array alike', () => {
    const bytes = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) }]);
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    expect([...tensorToFloat32(parseSafetensors(shifted).tensors.get('w')!)]).toEqual([1, 2, 3]);
    expect([...tensorToFloat32(parseSafetensors(bytes.slice().buffer).tensors.get('w')!)]).toEqual([1, 2, 3]);
    // A Node Buffer (whose slice() is a view) at an odd offset: tensors are still plain, copyable views.
    const pool = Buffer.alloc(bytes.length + 3);
    pool.set(bytes, 3);
    const t = parseSafetensors(pool.subarray(3)).tensors.get('w')!;
    expect(t.data.slice().buffer).not.toBe(pool.buffer);
    expect([...tensorToFloat32(t)]).toEqual([1, 2, 3]);
  });

  it('reads the header alone for streaming, and the plan matches the written file', () => {
    const entries = [
      { name: 'x', dtype: 'F16' as const, shape: [5] },
      { name: 'y', dtype: 'F32' as const, shape: [2, 2] },
    ];
    const plan = planSafetensors(entries, { a: 'b' });
    const bytes = writeSafetensors([
      { ...entries[0], data: new Uint16Array(5) },
      { ...entries[1], data: new Float32Array(4) },
    ], { a: 'b' });
    expect([...plan.header]).toEqual([...bytes.subarray(0, plan.header.length)]);
    expect(plan.totalBytes).toBe(bytes.length);
    expect(plan.tensors.map((t) => t.name)).toEqual(['y', 'x']); // wider dtype first
    const need = safetensorsHeaderBytes(bytes.subarray(0, 8));
    expect(need).toBe(plan.header.length);
    const header = readSafetensorsHeader(bytes.subarray(0, need));
    expect(header.dataBytes).toBe(bytes.length - need);
    expect(header.tensors).toEqual(plan.tensors);
    expect(() => readSafetensorsHeader(bytes.subarray(0, need - 1))).toThrow(/need the first \d+ bytes/);
  });

  it('accepts a header padded with spaces and a null metadata', () => {
    const file = parseSafetensors(rawFile(`{"__metadata__":null,"w":${JSON.stringify(f32([2], 0))}}   `, 8));
    expect(file.tensors.get('w')!.shape).toEqual([2]);
    expect(file.metadata).toEqual({});
  });
});

describe('safetensors errors', () => {
  const good = writeSafetensors([
    { name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(4) },
    { name: 'b', dtype: 'F32', shape: [2], data: new Float32Array(2) },
  ]);

  it('truncated file', () => {
    expect(() => parseSafetensors(good.subarray(0, 5))).toThrow(/file too short: 5 bytes, expected at least 8/);
    expect(() => parseSafetensors(good.subarray(0, good.length - 3))).toThrow(/tensor "b".*truncated/);
    expect(() => parseSafetensors(good.subarray(0, good.length - 3))).toThrow(expect.objectContaining({ code: 'E_BAD_FILE' }));
  });

  it('header longer than the file', () => {
    expect(() => parseSafetensors(good.subarray(0, 40))).toThrow(/header length \d+ bytes is longer than the file \(40 bytes\)/);
    expect(() => parseSafetensors(rawFile('{}', 0, 0x7fffffff))).toThrow(/exceeds the 100000000-byte limit/);
  });

  it('extra bytes after the last tensor', () => {
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expect(() => parseSafetensors(longer)).toThrow(/4 bytes after the last tensor/);
  });

  it('bad JSON, non-object header, bad UTF-8, bad metadata', () => {
    expect(() => parseSafetensors(rawFile('{"w": ', 0))).toThrow(/header is not valid JSON/);
    expect(() => parseSafetensors(rawFile('[1,2]', 0))).toThrow(/header must be a JSON object/);
    const bad = rawFile('{"\u00e9":1}', 0);
    bad[10] = 0xff;
    expect(() => parseSafetensors(bad)).toThrow(/not valid UTF-8/);
    expect(() => parseSafetensors(rawFile({ __metadata__: { a: 1 } }, 0))).toThrow(/"__metadata__" value for "a" must be a string/);
    expect(() => parseSafetensors(rawFile({ w: [1] }, 0))).toThrow(/tensor "w": entry must be an object/);
  });

  it('overlapping offsets', () => {
    expect(() => parseSafetensors(rawFile({ a: f32([2], 0), b: f32([2], 4) }, 12))).toThrow(
      /tensor "b": data_offsets \[4, 12\] overlap tensor "a"/,
    );
  });

  it('hole between tensors and before the first', () => {
    expect(() => parseSafetensors(rawFile({ a: f32([1], 0), b: f32([1], 8) }, 12))).toThrow(
      /tensor "b": data_offsets \[8, 12\] leave a hole of 4 unused bytes after tensor "a"/,
    );
    expect(() => parseSafetensors(rawFile({ a: f32([1], 4) }, 8))).toThrow(/hole of 4 unused bytes after the header/);
  });

  it('wrong dtype size', () => {
    const header = { a: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 24] } };
    expect(() => parseSafetensors(rawFile(header, 24))).toThrow(/tensor "a": data_offsets \[0, 24\] hold 24 bytes, but F16 \[2, 3\] needs 12/);
  });

  it('unknown dtype', () => {
    const header = { a: { dtype: 'F8_E4M4', shape: [2], data_offsets: [0, 2] } };
    expect(() => parseSafetensors(rawFile(header, 2))).toThrow(/tensor "a": unknown dtype "F8_E4M4" \(expected one of F64, F32, .*U32/);
    const lower = { a: { dtype: 'f32', shape: [1], data_offsets: [0, 4] } };
    expect(() => parseSafetensors(rawFile(lower, 4))).toThrow(/unknown dtype "f32"/);
  });

  it('negative, fractional or missing shape, bad offsets', () => {
    const withShape = (shape: unknown) => ({ a: { dtype: 'U8', shape, data_offsets: [0, 2] } });
    expect(() => parseSafetensors(rawFile(withShape([-2]), 2))).toThrow(/tensor "a": shape \[-2\] has -2; dimensions must be non-negative integers/);
    expect(() => parseSafetensors(rawFile(withShape([1.5]), 2))).toThrow(/shape \[1.5\] has 1.5/);
    expect(() => parseSafetensors(rawFile(withShape(undefined), 2))).toThrow(/tensor "a": shape must be an array/);
    const offsets = (o: unknown) => ({ a: { dtype: 'U8', shape: [2], data_offsets: o } });
    expect(() => parseSafetensors(rawFile(offsets([2, 0]), 2))).toThrow(/data_offsets \[2, 0\] end before they begin/);
    expect(() => parseSafetensors(rawFile(offsets([0]), 2))).toThrow(/data_offsets must be \[begin, end\]/);
  });

  it('writer refuses wrong data sizes, duplicate and reserved names', () => {
    expect(() => writeSafetensors([{ name: 'w', dtype: 'F32', shape: [3], data: new Float32Array(2) }])).toThrow(
      /tensor "w": data has 8 bytes, but F32 \[3\] needs 12/,
    );
    const t = { name: 'w', dtype: 'U8' as const, shape: [1], data: new Uint8Array(1) };
    expect(() => writeSafetensors([t, t])).toThrow(/tensor "w": appears twice/);
    expect(() => writeSafetensors([{ ...t, name: '__metadata__' }])).toThrow(/reserved for metadata/);
    expect(() => writeSafetensors([{ ...t, shape: [-1] }])).toThrow(/dimensions must be non-negative integers/);
  });
});

// Issue 12, kind 3: the format's whole dtype list parses; floats convert, the rest is a clear error.
describe('safetensors dtypes', () => {
  const one = (dtype: string, shape: number[], bytes: number) => rawFile({ t: { dtype, shape, data_offsets: [0, bytes] } }, bytes);

  it('parses U32, U16, U64, F8, C64 and the other integer and float dtypes', () => {
    const cases: Array<[string, number]> = [
      ['U32', 4], ['U16', 2], ['U64', 8], ['F8_E4M3', 1], ['F8_E5M2', 1], ['F8_E8M0', 1], ['F8_E4M3FNUZ', 1],
      ['F8_E5M2FNUZ', 1], ['C64', 8], ['I16', 2], ['I32', 4], ['I64', 8], ['I8', 1], ['U8', 1], ['BOOL', 1],
    ];
    for (const [dtype, size] of cases) {
      const t = parseSafetensors(one(dtype, [3, 2], 6 * size)).tensors.get('t')!;
      expect(t.dtype).toBe(dtype);
      expect(t.data.byteLength).toBe(6 * size);
    }
  });

  it('packed sub-byte dtypes must fill whole bytes', () => {
    expect(parseSafetensors(one('F4', [2, 3], 3)).tensors.get('t')!.data.byteLength).toBe(3);
    expect(parseSafetensors(one('F6_E2M3', [4], 3)).tensors.get('t')!.data.byteLength).toBe(3);
    expect(() => parseSafetensors(one('F4', [3], 2))).toThrow(/tensor "t": F4 \[3\] is 12 bits, not a whole number of bytes/);
    expect(() => parseSafetensors(one('F6_E3M2', [2], 2))).toThrow(/F6_E3M2 \[2\] is 12 bits/);
    expect(() => parseSafetensors(one('F4', [2], 2))).toThrow(/hold 2 bytes, but F4 \[2\] needs 1/);
  });

  it('the writer lays packed sub-byte tensors out after the whole-byte ones, and refuses partial bytes', () => {
    const bytes = writeSafetensors([
      { name: 'f4', dtype: 'F4', shape: [2, 3], data: new Uint8Array([0x12, 0x34, 0x56]) },
      { name: 'w', dtype: 'F32', shape: [1], data: new Float32Array([2]) },
      { name: 'b', dtype: 'U8', shape: [1], data: new Uint8Array([9]) },
    ]);
    const file = parseSafetensors(bytes);
    expect([...file.tensors.keys()]).toEqual(['w', 'b', 'f4']);
    expect([...file.tensors.get('f4')!.data]).toEqual([0x12, 0x34, 0x56]);
    expect(() => tensorToFloat32(file.tensors.get('f4')!)).toThrow(/dtype F4 cannot be read as float32/);
    expect(() => writeSafetensors([{ name: 'odd', dtype: 'F4', shape: [3], data: new Uint8Array(2) }])).toThrow(/tensor "odd": F4 \[3\] is 12 bits/);
  });

  it('writes and reads back U32 and F8 tensors', () => {
    const u32 = new Uint32Array([0, 1, 0xffffffff]);
    const f8 = new Uint8Array([0x38, 0xb8]);
    const bytes = writeSafetensors([
      { name: 'f8', dtype: 'F8_E4M3', shape: [2], data: f8 },
      { name: 'u', dtype: 'U32', shape: [3], data: u32 },
    ]);
    const file = parseSafetensors(bytes);
    const u = file.tensors.get('u')!;
    expect(u.dtype).toBe('U32');
    expect([...new Uint32Array(u.data.slice().buffer)]).toEqual([...u32]);
    expect([...tensorToFloat32(file.tensors.get('f8')!)]).toEqual([1, -1]);
    expect(() => tensorToFloat32(u)).toThrow(/tensor "u": dtype U32 cannot be read as float32 \(expected F64, F32, F16, BF16, F8_E4M3, F8_E5M2\)/);
  });

  it('F8_E4M3 and F8_E5M2 convert exactly', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const e4m3 = tensorToFloat32({ name: 'e4m3', dtype: 'F8_E4M3', shape: [256], data: all });
    expect(e4m3[0x00]).toBe(0);
    expect(Object.is(e4m3[0x80], -0)).toBe(true);
    expect(e4m3[0x01]).toBe(2 ** -9); // smallest subnormal
    expect(e4m3[0x08]).toBe(2 ** -6); // smallest normal
    expect(e4m3[0x38]).toBe(1);
    expect(e4m3[0x7e]).toBe(448); // largest finite: no infinities in E4M3
    expect(e4m3[0xfe]).toBe(-448);
    expect(e4m3[0x7f]).toBeNaN();
    expect(e4m3[0xff]).toBeNaN();
    expect([...e4m3].filter(Number.isNaN).length).toBe(2);
    // E5M2 is the top byte of an IEEE half: check all 256 against the F16 reader.
    const e5m2 = tensorToFloat32({ name: 'e5m2', dtype: 'F8_E5M2', shape: [256], data: all });
    const asHalf = new Uint8Array(512);
    all.forEach((b, i) => (asHalf[2 * i + 1] = b));
    expect([...e5m2]).toEqual([...tensorToFloat32({ name: 'h', dtype: 'F16', shape: [256], data: asHalf })]);
    expect(e5m2[0x7b]).toBe(57344);
    expect(e5m2[0x7c]).toBe(Infinity);
  });

  it('a hand-made tensor whose data does not match its shape is an error, not a RangeError', () => {
    expect(() => tensorToFloat32({ name: 'x', dtype: 'F32', shape: [2], data: new Uint8Array(7) })).toThrow(
      /tensor "x": data has 7 bytes, but F32 \[2\] needs 8/,
    );
    const bad = { name: 'x', dtype: 'F99', shape: [1], data: new Uint8Array(4) } as unknown as SafetensorsTensor;
    expect(() => tensorToFloat32(bad)).toThrow(/tensor "x": unknown dtype "F99"/);
  });
});

// Issue 12, kind 1: a header value nested 5,000 deep must be a clear Error with a short message, not a stack overflow.
describe('safetensors headers nested deep', () => {
  const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  const header = (field: string, value: string) => {
    const fields: Record<string, string> = { dtype: '"U8"', shape: '[2]', data_offsets: '[0, 2]' };
    fields[field] = value;
    const entry = Object.entries(fields).map(([k, v]) => `"${k}": ${v}`).join(', ');
    return `{"t": {${entry}}}`;
  };

  for (const [field, pattern] of [
    ['shape', /tensor "t": shape \[\[\[\[…1 item\]\]\]\] has \[\[\[\[…1 item\]\]\]\]; dimensions must be non-negative integers/],
    ['dtype', /tensor "t": unknown dtype \[\[\[\[…1 item\]\]\]\]/],
    ['data_offsets', /tensor "t": data_offsets must be \[begin, end\] of non-negative integers, got \[\[\[\[…1 item\]\]\]\]/],
  ] as const) {
    it(`in ${field}`, () => {
      let message = '';
      try {
        parseSafetensors(rawFile(header(field, deep(5000)), 2));
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect(e).not.toBeInstanceOf(RangeError);
        message = (e as Error).message;
      }
      expect(message).toMatch(pattern);
      expect(message.length).toBeLessThan(400);
    });
  }

  it('in __metadata__ and as a whole entry', () => {
    expect(() => parseSafetensors(rawFile(`{"__metadata__": ${deep(5000)}}`, 0))).toThrow(
      /"__metadata__" must be an object of string → string, got \[\[\[\[…1 item\]\]\]\]/,
    );
    expect(() => parseSafetensors(rawFile(`{"__metadata__": {"k": ${deep(5000)}}}`, 0))).toThrow(
      /"__metadata__" value for "k" must be a string, got \[\[\[\[…1 item\]\]\]\]/,
    );
    expect(() => parseSafetensors(rawFile(`{"t": ${deep(5000)}}`, 0))).toThrow(/tensor "t": entry must be an object/);
    expect(() => parseSafetensors(rawFile(`{"t": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2], "x": ${deep(100000)}}}`, 2))).not.toThrow();
  });

  it('long names and values are quoted as bounded excerpts', () => {
    const name = 'n'.repeat(100_000);
    let message = '';
    try {
      parseSafetensors(rawFile({ [name]: { dtype: 'Q'.repeat(100_000), shape: [1], data_offsets: [0, 1] } }, 1));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/tensor "n{40}"…\(100000 characters\): unknown dtype "Q{40}"…/);
    expect(message.length).toBeLessThan(400);
  });
});

describe('safetensors names that are Object.prototype keys', () => {
  it('"__proto__" as a tensor name and a metadata key round-trips', () => {
    const meta: Record<string, string> = {};
    Object.defineProperty(meta, '__proto__', { value: 'x', enumerable: true }); // a key, not the prototype
    const file = parseSafetensors(writeSafetensors([{ name: '__proto__', dtype: 'U8', shape: [1], data: new Uint8Array([7]) }], meta));
    expect([...file.tensors.get('__proto__')!.data]).toEqual([7]);
    expect(Object.keys(file.metadata)).toEqual(['__proto__']);
    expect(file.metadata['__proto__']).toBe('x');
  });
});
