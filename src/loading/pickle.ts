// A restricted reader for Python pickles: enough of the protocol (0–4 binary opcodes) for the state dicts
// torch.save writes. It never executes anything: a GLOBAL only names a callable, and REDUCE / BUILD /
// persistent ids go through hooks the caller supplies, which accept a short allow-list and refuse the rest.
// Anything else (unknown opcodes, arbitrary classes) is an error.

/** A reference to a Python global (`module.name`), as named by GLOBAL / STACK_GLOBAL. Never called here. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python dict (or OrderedDict), keys in insertion order. */
export class PickleDict {
  readonly map = new Map<PickleKey, PickleValue>();
}

export type PickleKey = string | number | boolean | null;

/** Opaque objects built by the caller's hooks (tensors, storages) are `object`. */
export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PickleValue[] | PickleGlobal | PickleDict | object;

export interface PickleHooks {
  /** REDUCE: `callable(*args)`. Return the result or throw to refuse. */
  reduce(callable: PickleValue, args: PickleValue[]): PickleValue;
  /** BUILD: `obj.__setstate__(state)`. Return the object or throw to refuse. */
  build(obj: PickleValue, state: PickleValue): PickleValue;
  /** BINPERSID: the object a persistent id stands for (torch: a storage). */
  persistentLoad(pid: PickleValue): PickleValue;
}

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

function describe(v: StackItem): string {
  if (v === MARK) return 'a mark';
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list/tuple';
  if (v instanceof PickleGlobal) return v.toString();
  if (v instanceof PickleDict) return 'a dict';
  return typeof v;
}

/** Unpickles `data` with the given hooks. Throws on anything outside the supported subset. */
export function unpickle(data: Uint8Array, hooks: PickleHooks, what = 'pickle'): PickleValue {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let opPos = 0;

  const fail = (problem: string): never => {
    throw new Error(`${what}: ${problem} (at byte ${opPos})`);
  };
  const need = (n: number) => {
    if (pos + n > data.length) fail(`truncated: needs ${n} more bytes, ${data.length - pos} left`);
  };
  const u8 = () => (need(1), data[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    const lo = u32();
    const hi = u32();
    const v = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(v)) fail(`length ${v} is too large`);
    return v;
  };
  const bytes = (n: number) => (need(n), (pos += n), data.subarray(pos - n, pos));
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail('truncated: missing end of line');
    const s = latin1.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const text = (n: number) => {
    const raw = bytes(n);
    try {
      return utf8.decode(raw);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) fail('unexpected mark');
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (stack.length === 0 || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail('missing mark');
    const items = stack.splice(at) as PickleValue[];
    items.shift();
    return items;
  };
  const key = (k: PickleValue): PickleKey => {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean') return k;
    return fail(`unsupported dict key: ${describe(k)}`);
  };
  const setItems = (target: PickleValue, kv: PickleValue[]) => {
    if (!(target instanceof PickleDict)) fail(`SETITEM on ${describe(target)}, expected a dict`);
    if (kv.length % 2 !== 0) fail('odd number of dict items');
    for (let i = 0; i < kv.length; i += 2) (target as PickleDict).map.set(key(kv[i]), kv[i + 1]);
  };
  const appendItems = (target: PickleValue, items: PickleValue[]) => {
    if (!Array.isArray(target)) fail(`APPEND on ${describe(target)}, expected a list`);
    (target as PickleValue[]).push(...items);
  };
  const long = (b: Uint8Array): number | bigint => {
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) fail(`memo entry ${i} is not defined`);
    return memo.get(i)!;
  };

  for (;;) {
    opPos = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME: a length hint only
        bytes(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(`pickle ended with ${stack.length} values on the stack, expected 1`);
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(long(bytes(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(long(bytes(u32())));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x55: // SHORT_BINSTRING (Python 2 str)
        stack.push(latin1.decode(bytes(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(latin1.decode(bytes(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PickleDict());
        break;
      case 0x64: {
        // DICT
        const d = new PickleDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(new PickleGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(new PickleGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!Array.isArray(args)) fail(`REDUCE arguments must be a tuple, got ${describe(args)}`);
        stack.push(hooks.reduce(callable, args as PickleValue[]));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        stack.push(hooks.build(pop(), state));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      default: {
        const printable = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${printable}; only the opcodes torch.save uses for state dicts are read`);
      }
    }
  }
}
