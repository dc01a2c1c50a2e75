import { describe, it, expect } from 'vitest';
import { unpickle, PickleDict, PickleGlobal, type PickleHooks } from '../../src/loading/pickle';
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
