// numpy's .npy format, read: the arrays weights-tools/tokenize_data.py writes (alone, or inside an uncompressed or
// deflated .npz, which is a zip of .npy files). Only what token files need: C-order integer (and bool) arrays,
// little-endian.
import { ImageGPTError } from '../src/errors';

/** The dtypes a token file may hold, by numpy's `descr`: integer tokens, bool flags (tokenize_data.py's heldout). */
const DTYPES = {
  '|b1': { bytes: 1, read: (v: DataView, o: number) => v.getUint8(o) },
  '|u1': { bytes: 1, read: (v: DataView, o: number) => v.getUint8(o) },
  '<u2': { bytes: 2, read: (v: DataView, o: number) => v.getUint16(o, true) },
  '<i4': { bytes: 4, read: (v: DataView, o: number) => v.getInt32(o, true) },
  '<i8': { bytes: 8, read: (v: DataView, o: number) => Number(v.getBigInt64(o, true)) },
} as const;

export type NpyDType = keyof typeof DTYPES;

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  /** The elements in C order, as numbers (int64 values beyond 2^53 lose precision; token ids never get there). */
  values: Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** Parses one .npy file's bytes; `what` names it in errors. */
export function parseNpy(bytes: Uint8Array, what: string): NpyArray {
  const fail = (problem: string): never => {
    throw new ImageGPTError('E_BAD_FILE', `${what}: ${problem}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy array (it does not start with "\\x93NUMPY")');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major < 1 || major > 3) fail(`.npy format version ${major} is not one numpy writes (1, 2 or 3)`);
  // Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4.
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) fail('the file ends inside its header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lengthBytes + headerLength;
  if (dataStart > bytes.length) fail(`its header claims ${headerLength} bytes but the file has ${bytes.length}`);
  const header = new TextDecoder().decode(bytes.subarray(8 + lengthBytes, dataStart));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(`header is not a numpy array header: ${header.slice(0, 120)}`);
  if (!(descr! in DTYPES)) fail(`dtype '${descr}' is not one a token file holds (expected ${Object.keys(DTYPES).join(', ')})`);
  if (fortran === 'True') fail('Fortran-order arrays are not supported (write it with np.ascontiguousarray)');
  const shape = shapeText!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < 0) fail(`shape (${shapeText}) is not a list of sizes`);
      return n;
    });
  const dtype = descr as NpyDType;
  const { bytes: size, read } = DTYPES[dtype];
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - dataStart !== count * size) {
    fail(`shape (${shape.join(', ')}) of ${dtype} needs ${count * size} bytes of data, the file has ${bytes.length - dataStart}`);
  }
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = read(view, dataStart + i * size);
  return { dtype, shape, values };
}
