import { describe, it, expect } from 'vitest';
import { unpickle, describePickle, PickleDict, PickleGlobal, type PickleHooks } from '../../src/loading/pickle';
import { crc32 } from '../../src/loading/zip';

describe('pickle reader', () => {
  const refuse: PickleHooks = {
    reduce: (c) => {
      throw new Error(`refused ${String(c)}`);
    },
    build: () => {
      throw new Error('refused build');
    },
    persistentLoad: () => {
      throw new Error('refused persistent id');
    },
  };
  const bytes = (...parts: Array<number | string>) =>
    new Uint8Array(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...Buffer.from(p, 'latin1')])));

  it('reads the value opcodes of protocols 2 and 4', () => {
    // {'a': (1, -2, 300, 70000, 2**40, -1.5, True, None, [b'xy'], 'é')} with FRAME and MEMOIZE
    const utf8 = [...Buffer.from('é')];
    const body = [
      0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, '}', 0x94, 0x8c, 1, 'a', 0x94, '(',
      'K', 1, 'J', 0xfe, 0xff, 0xff, 0xff, 'M', 0x2c, 0x01, 'J', 0x70, 0x11, 0x01, 0x00,
      0x8a, 6, 0, 0, 0, 0, 0, 1, 'G', 0xbf, 0xf8, 0, 0, 0, 0, 0, 0, 0x88, 'N',
      ']', 'C', 2, 'xy', 'a', 0x8c, utf8.length, ...utf8, 't', 0x94, 's',
    ];
    const v = unpickle(bytes(...body, '.'), refuse);
    expect(v).toBeInstanceOf(PickleDict);
    const tuple = (v as PickleDict).map.get('a') as unknown[];
    expect(tuple.slice(0, 8)).toEqual([1, -2, 300, 70000, 2 ** 40, -1.5, true, null]);
    expect([...(tuple[8] as Uint8Array[])[0]]).toEqual([120, 121]);
    expect(tuple[9]).toBe('é');
    // BINGET of memo 1 ('a') leaves two values behind.
    expect(() => unpickle(bytes(...body, 'h', 1, '.'), refuse)).toThrow(/ended with 2 values on the stack/);
  });

  it('names globals without calling them, and the hooks decide', () => {
    const data = bytes(0x80, 2, 'c', 'os\nsystem\n', 'X', 2, 0, 0, 0, 'ls', 0x85, 'R', '.');
    expect(() => unpickle(data, refuse)).toThrow(/refused os\.system/);
    const g = unpickle(bytes(0x80, 4, 0x8c, 1, 'm', 0x8c, 1, 'n', 0x93, '.'), refuse);
    expect(g).toBeInstanceOf(PickleGlobal);
    expect(String(g)).toBe('m.n');
  });

  it('refuses unknown opcodes and truncated input', () => {
    expect(() => unpickle(bytes(0x80, 2, 'i', 'os\nsystem\n', '.'), refuse, 'x.pkl')).toThrow(
      /x\.pkl: unsupported pickle opcode 0x69 'i'.*at byte 2/,
    );
    expect(() => unpickle(bytes(0x80, 2, 'X', 9, 0, 0, 0, 'ab'), refuse)).toThrow(/truncated: needs 9 more bytes/);
    expect(() => unpickle(bytes(0x80, 2, 'h', 3, '.'), refuse)).toThrow(/memo entry 3 is not defined/);
  });

  it('crc32 is the standard one', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});

describe('pickle reader on hostile input', () => {
  const refuse: PickleHooks = {
    reduce: (c) => {
      throw new Error(`refused ${describePickle(c)}`);
    },
    build: () => {
      throw new Error('refused build');
    },
    persistentLoad: (pid) => {
      throw new Error(`refused persistent id ${describePickle(pid)}`);
    },
  };
  const ops = (...parts: Array<number | string | number[]>) => {
    const out: number[] = [];
    for (const p of parts) {
      if (typeof p === 'number') out.push(p);
      else if (typeof p === 'string') for (const b of Buffer.from(p, 'latin1')) out.push(b);
      else for (const b of p) out.push(b);
    }
    return new Uint8Array(out);
  };
  const repeat = (n: number, ...op: number[]) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) for (const b of op) out.push(b);
    return out;
  };

  it('5,000-deep nesting is an Error, not a stack overflow (tuples, lists, dicts)', () => {
    const tuples = ops(0x80, 2, repeat(5000, 0x28), 'N', repeat(5000, 0x74), '.');
    const lists = ops(0x80, 2, repeat(5000, 0x5d), repeat(4999, 0x61), '.');
    const dicts = ops(0x80, 2, repeat(5000, 0x7d, 0x4b, 1), 'N', repeat(5000, 0x73), '.');
    for (const data of [tuples, lists, dicts]) {
      let error: unknown;
      try {
        unpickle(data, refuse, 'deep.pkl');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(RangeError);
      expect((error as Error).message).toMatch(/deep\.pkl: containers nested deeper than 256 levels/);
    }
  });

  it('a deep value inside a hook call is described with a bounded excerpt', () => {
    // os.system((((...((None,),)...),),)) 200 levels: within the nesting limit, refused by the hook.
    const data = ops(0x80, 2, 'c', 'os\nsystem\n', 'N', repeat(200, 0x85), 0x85, 'R', '.');
    expect(() => unpickle(data, { ...refuse, reduce: (c, args) => {
      throw new Error(`refused ${describePickle(c)}${describePickle(args)}`);
    } })).toThrow(/^refused os\.system\(\(\(… 1 items\)\)\)$/);
  });

  it('a cyclic list is built and described without looping', () => {
    // l = []; l.append(l)
    const v = unpickle(ops(0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.'), refuse) as unknown[];
    expect(v[0]).toBe(v);
    expect(describePickle(v, 5)).toMatch(/^\(\(\(\(\(\(… 1 items\)\)\)\)\)\)$/);
  });

  it('wide lists, many marks and long runs stay fast (linear)', () => {
    const n = 120_000;
    const wide = ops(0x80, 2, ']', '(', repeat(n, 0x4b, 1), 'e', '.');
    // Marks opened and closed over a deep stack: each pop-to-mark costs only its own items.
    const marks = ops(0x80, 2, ']', '(', repeat(n, 0x4b, 1), repeat(n / 3, 0x28, 0x74, 0x30), 'e', '.');
    const t0 = performance.now();
    expect((unpickle(wide, refuse) as unknown[]).length).toBe(n);
    expect((unpickle(marks, refuse) as unknown[]).length).toBe(n);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('lengths and numbers it cannot hold are refused before any allocation', () => {
    // BINUNICODE of 4 GiB - 1 with 3 bytes left; BINBYTES8 past 2^53; LONG4 of 1 MB; BINSTRING of negative length.
    expect(() => unpickle(ops(0x80, 2, 'X', 0xff, 0xff, 0xff, 0xff, 'abc'), refuse, 'a.pkl')).toThrow(/a\.pkl: truncated: needs 4294967295 more bytes, 3 left/);
    expect(() => unpickle(ops(0x80, 4, 0x8e, repeat(8, 0xff), '.'), refuse, 'b.pkl')).toThrow(/b\.pkl: length .* too large to represent/);
    expect(() => unpickle(ops(0x80, 2, 0x8b, 0x40, 0x42, 0x0f, 0x00, repeat(1_000_000, 1), '.'), refuse, 'c.pkl')).toThrow(/c\.pkl: an integer of 1000000 bytes; at most 8 are read/);
    expect(() => unpickle(ops(0x80, 2, 'T', 0xff, 0xff, 0xff, 0xff, '.'), refuse, 'd.pkl')).toThrow(/d\.pkl: string of negative length -1/);
    expect(() => unpickle(ops(0x80, 9, '.'), refuse, 'e.pkl')).toThrow(/e\.pkl: pickle protocol 9; at most 5 is read/);
    // 8-byte LONGs still read (as bigint beyond 2^53).
    expect(unpickle(ops(0x80, 2, 0x8a, 8, repeat(7, 0xff), 0x7f, '.'), refuse)).toBe(2n ** 63n - 1n);
  });

  it('stack misuse is an error naming the byte', () => {
    expect(() => unpickle(ops(0x80, 2, 'a', '.'), refuse, 'x.pkl')).toThrow(/x\.pkl: stack underflow \(at byte 2\)/);
    expect(() => unpickle(ops(0x80, 2, '(', 'a', '.'), refuse, 'x.pkl')).toThrow(/x\.pkl: (unexpected mark|stack underflow)/);
    expect(() => unpickle(ops(0x80, 2, 't', '.'), refuse, 'x.pkl')).toThrow(/x\.pkl: missing mark/);
    expect(() => unpickle(ops(0x80, 2, '(', 'N', '.'), refuse, 'x.pkl')).toThrow(/x\.pkl: pickle ended with 2 values on the stack/);
    expect(() => unpickle(ops(0x80, 2, 'N', 'N', 's', '.'), refuse, 'x.pkl')).toThrow(/x\.pkl: (stack underflow|SETITEM on None, expected a dict)/);
  });
});
