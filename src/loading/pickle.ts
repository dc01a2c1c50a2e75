// A restricted reader for Python pickles: enough of the protocol (0–4 binary opcodes) for the state dicts
// torch.save writes. It never executes anything: a GLOBAL only names a callable, and REDUCE / BUILD /
// persistent ids go through hooks the caller supplies, which accept a short allow-list and refuse the rest.
// Anything else (unknown opcodes, arbitrary classes) is an error.
// Hostile input: every length is checked against the bytes left before anything is allocated, numbers
// that cannot be represented are refused, the memo, the stack and the nesting of containers are bounded,
// and the work is linear in the input. Nothing here recurses over values (they may be deep or cyclic).

import { clip, quote } from '../json';
import { ImageGPTError } from '../errors';

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

/** Limits on what a pickle may build (a state dict of a few thousand tensors needs far less). */
export const PICKLE_LIMITS = Object.freeze({ memo: 1 << 20, stack: 1 << 20, depth: 256, longBytes: 8 });

/**
 * A short, bounded description of a value for error messages: at most `depth` levels and a few items
 * per container, strings cut short. Safe on deep, wide or cyclic values (never JSON.stringify them).
 */
export function describePickle(v: unknown, depth = 2): string {
  if (v === MARK) return 'a mark';
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `${v}`.length > 24 ? 'a very large integer' : `${v}`;
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (v instanceof PickleGlobal) {
    // Module and name come from the file: any length, any characters. Plain ones print bare (torch.FloatStorage).
    const text = v.toString();
    return /^[\x21-\x7e]*$/.test(text) ? clip(text) : quote(text);
  }
  if (Array.isArray(v)) {
    if (depth <= 0) return `(… ${v.length} items)`;
    const items = v.slice(0, 4).map((x) => describePickle(x, depth - 1));
    return `(${items.join(', ')}${v.length > 4 ? `, … ${v.length} items` : ''})`;
  }
  if (v instanceof PickleDict) return `a dict of ${v.map.size} items`;
  return typeof v === 'object' ? 'an object' : typeof v;
}
const describe = (v: StackItem) => describePickle(v);

/** Unpickles `data` with the given hooks. Throws on anything outside the supported subset. */
export function unpickle(data: Uint8Array, hooks: PickleHooks, what = 'pickle'): PickleValue {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: StackItem[] = [];
  // Where each open MARK sits in `stack` (Python's metastack): popping to a mark costs only its items.
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  // Nesting of the containers built here, so a deep structure is refused while it is built.
  const depths = new WeakMap<object, number>();
  let pos = 0;
  let opPos = 0;

  const fail = (problem: string): never => {
    throw new ImageGPTError('E_BAD_FILE', `${clip(what)}: ${problem} (at byte ${opPos})`);
  };
  const need = (n: number) => {
    if (n > data.length - pos) fail(`truncated: needs ${n} more bytes, ${data.length - pos} left`);
  };
  const u8 = () => (need(1), data[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    const lo = u32();
    const hi = u32();
    const v = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(v)) fail(`length ${hi}·2^32 + ${lo} is too large to represent`);
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
  const depthOf = (v: PickleValue): number => (typeof v === 'object' && v !== null ? depths.get(v) ?? 0 : 0);
  /** Records that `container` holds `item`; too deep a structure is an error here, not a stack overflow later. */
  const nest = (container: object, item: PickleValue) => {
    const d = depthOf(item) + 1;
    if (d > (depths.get(container) ?? 1)) {
      if (d > PICKLE_LIMITS.depth) fail(`containers nested deeper than ${PICKLE_LIMITS.depth} levels`);
      depths.set(container, d);
    }
  };
  const container = <T extends object>(c: T, items: readonly PickleValue[] = []): T => {
    depths.set(c, 1);
    for (const item of items) nest(c, item);
    return c;
  };
  const push = (v: StackItem) => {
    if (stack.length >= PICKLE_LIMITS.stack) fail(`more than ${PICKLE_LIMITS.stack} values on the stack`);
    stack.push(v);
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail('stack underflow');
    if (marks.length > 0 && marks[marks.length - 1] === stack.length - 1) fail('unexpected mark');
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && marks[marks.length - 1] === stack.length - 1)) fail('stack underflow');
    return stack[stack.length - 1] as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const at = marks.pop();
    if (at === undefined) return fail('missing mark');
    const items = stack.slice(at + 1) as PickleValue[];
    stack.length = at;
    return items;
  };
  const key = (k: PickleValue): PickleKey => {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean') return k;
    return fail(`unsupported dict key: ${describe(k)}`);
  };
  const setItems = (target: PickleValue, kv: PickleValue[]) => {
    if (!(target instanceof PickleDict)) return fail(`SETITEM on ${describe(target)}, expected a dict`);
    if (kv.length % 2 !== 0) fail('odd number of dict items');
    for (let i = 0; i < kv.length; i += 2) {
      target.map.set(key(kv[i]), kv[i + 1]);
      nest(target, kv[i + 1]);
    }
  };
  const appendItems = (target: PickleValue, items: PickleValue[]) => {
    if (!Array.isArray(target)) return fail(`APPEND on ${describe(target)}, expected a list`);
    // One at a time: spreading a long list into push() would overflow the call stack.
    for (const item of items) {
      target.push(item);
      nest(target, item);
    }
  };
  const long = (n: number): number | bigint => {
    if (n > PICKLE_LIMITS.longBytes) fail(`an integer of ${n} bytes; at most ${PICKLE_LIMITS.longBytes} are read`);
    const b = bytes(n);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const memoPut = (i: number) => {
    const v = top();
    if (!memo.has(i) && memo.size >= PICKLE_LIMITS.memo) fail(`more than ${PICKLE_LIMITS.memo} memo entries`);
    memo.set(i, v);
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) fail(`memo entry ${i} is not defined`);
    return memo.get(i)!;
  };

  for (;;) {
    opPos = pos;
    const op = u8();
    switch (op) {
      case 0x80: {
        // PROTO
        const proto = u8();
        if (proto > 5) fail(`pickle protocol ${proto}; at most 5 is read`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        bytes(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) fail(`pickle ended with ${stack.length} values on the stack, expected 1`);
        return pop();
      case 0x28: // MARK
        marks.push(stack.length);
        push(MARK);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(long(u8()));
        break;
      case 0x8b: // LONG4
        push(long(u32()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(text(u64()));
        break;
      case 0x55: // SHORT_BINSTRING (Python 2 str)
        push(latin1.decode(bytes(u8())));
        break;
      case 0x54: {
        // BINSTRING: a signed length
        const n = i32();
        if (n < 0) fail(`string of negative length ${n}`);
        push(latin1.decode(bytes(n)));
        break;
      }
      case 0x43: // SHORT_BINBYTES
        push(bytes(u8()).slice());
        break;
      case 0x42: // BINBYTES
        push(bytes(u32()).slice());
        break;
      case 0x8e: // BINBYTES8
        push(bytes(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        push(container([]));
        break;
      case 0x74: {
        // TUPLE
        const items = popMark();
        push(container(items, items));
        break;
      }
      case 0x85: {
        // TUPLE1
        const a = pop();
        push(container([a], [a]));
        break;
      }
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        push(container([a, b], [a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(container([a, b, c], [a, b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        push(container([]));
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        push(container(items, items));
        break;
      }
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
        push(container(new PickleDict()));
        break;
      case 0x64: {
        // DICT
        const d = container(new PickleDict());
        setItems(d, popMark());
        push(d);
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
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        push(new PickleGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') return fail('STACK_GLOBAL needs two strings');
        push(new PickleGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!Array.isArray(args)) return fail(`REDUCE arguments must be a tuple, got ${describe(args)}`);
        push(hooks.reduce(callable, args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        push(hooks.build(pop(), state));
        break;
      }
      case 0x51: // BINPERSID
        push(hooks.persistentLoad(pop()));
        break;
      default: {
        const printable = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${printable}; only the opcodes torch.save uses for state dicts are read`);
      }
    }
  }
}
