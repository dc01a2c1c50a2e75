// Training data for `npm run train`: a folder of PNG/JPEG images (decoded by pngjs / jpeg-js, turned into tokens by
// the library's ImageGPTImageProcessor) or a token file (.npy / .npz as weights-tools/tokenize_data.py writes them),
// as rows of palette tokens, each one whole image (height × width tokens, no SOS), checked against the model.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { ImageGPTError } from '../src/errors';
import { errorMessage } from '../src/json';
import { ZipReader } from '../src/loading/zip';
import type { ImageGPTImageProcessor, PixelImage } from '../src/processor/index';
import { openFileCursor } from './read-at';
import { parseNpy, type NpyArray } from './npy';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
/** Which rows of a tokenize_data.py file to use: its `heldout` array picks them. */
export type TokenSplit = 'all' | 'train' | 'heldout';

export interface TrainingData {
  /** One row per image: its height × width palette tokens, row-major, no SOS. */
  rows: number[][];
  /** With class folders (--classes): each row's class index, and the classes' names (the folder names, sorted). */
  labels?: number[];
  classNames?: string[];
  /** What was read, for the progress output (one line). */
  description: string;
}

/** A token file's arrays are small (tokenize_data.py refuses to write over 60 MB); more is not a token file. */
const MAX_ENTRY_BYTES = 1 << 30;

/** Decodes one PNG or JPEG file (told apart by content) to RGBA pixels. */
export function decodeImageFile(path: string): PixelImage {
  const bytes = readFileSync(path);
  const isPng = bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  try {
    if (isPng) {
      const png = PNG.sync.read(bytes); // any bit depth and color type, as 8-bit RGBA
      return { data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength), width: png.width, height: png.height, channels: 4 };
    }
    if (isJpeg) {
      const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
      return { data: image.data, width: image.width, height: image.height, channels: 4 };
    }
  } catch (e) {
    throw new ImageGPTError('E_BAD_FILE', `${path}: not a readable ${isPng ? 'PNG' : 'JPEG'} (${errorMessage(e)})`, { cause: e });
  }
  throw new ImageGPTError('E_BAD_FILE', `${path}: named like an image but is neither PNG nor JPEG (by its first bytes)`);
}

/**
 * Every .png/.jpg/.jpeg directly in `dir` (sorted by name), as tokens. Images of another size are resized by the
 * processor (the config's `resample` filter, Pillow's, to exactly height × width: a non-square image is stretched,
 * not cropped); transparent pixels are composited onto the config's `background_color` (or their alpha dropped
 * when it has none, as Hugging Face does).
 */
export function readImageFolder(dir: string, processor: ImageGPTImageProcessor): TrainingData {
  const names = readdirSync(dir).sort();
  const images = names.filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase()) && statSync(join(dir, n)).isFile());
  if (images.length === 0) {
    const folders = names.filter((n) => statSync(join(dir, n)).isDirectory());
    const hint = folders.length > 0 ? ` (it has subfolders: ${folders.slice(0, 5).join(', ')}${folders.length > 5 ? ', …' : ''}; images are read from the folder itself)` : '';
    throw new ImageGPTError('E_NOT_FOUND', `--data ${dir}: no .png, .jpg or .jpeg images in this folder${hint}`);
  }
  const { height, width } = processor.size;
  const rows: number[][] = [];
  let resized = 0;
  let stretched = 0;
  for (const name of images) {
    const path = join(dir, name);
    const image = decodeImageFile(path);
    if (image.width !== width || image.height !== height) {
      if (!processor.doResize) {
        throw new ImageGPTError('E_BAD_INPUT', `${path} is ${image.width}×${image.height}: the model's preprocessor_config.json has do_resize false, so every image must be ${width}×${height}`);
      }
      resized++;
      if (image.width * height !== image.height * width) stretched++;
    }
    const { inputIds } = processor.encode(image);
    rows.push(inputIds[0]);
  }
  const alpha = processor.background ? `transparent pixels composited onto rgb(${processor.background.join(', ')})` : 'alpha dropped (no background_color in preprocessor_config.json)';
  const resizing = resized === 0 ? `all ${width}×${height}` : `${resized} resized to ${width}×${height} (${processor.resample}${stretched > 0 ? `; ${stretched} not of that aspect ratio, stretched` : ''})`;
  return { rows, description: `${dir}: ${rows.length} images, ${resizing}, ${alpha}` };
}

/** A folder with one subfolder of images per class (--classes): classes named and numbered by sorted folder name. */
export function readClassFolders(dir: string, processor: ImageGPTImageProcessor, what: string): TrainingData {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    throw new ImageGPTError('E_NOT_FOUND', `${what} ${dir}: no such folder (with --classes: a folder holding one subfolder of images per class)`);
  }
  const classNames = names.filter((n) => statSync(join(dir, n)).isDirectory());
  if (classNames.length < 2) {
    throw new ImageGPTError('E_BAD_INPUT', `${what} ${dir}: with --classes it must hold one subfolder of images per class, at least 2; found ${classNames.length}${classNames.length ? ` (${classNames[0]})` : ''}`);
  }
  const rows: number[][] = [];
  const labels: number[] = [];
  const counts: string[] = [];
  for (let c = 0; c < classNames.length; c++) {
    const images = readImageFolder(join(dir, classNames[c]), processor);
    rows.push(...images.rows);
    labels.push(...images.rows.map(() => c));
    counts.push(`${classNames[c]} ${images.rows.length}`);
  }
  return { rows, labels, classNames, description: `${dir}: ${rows.length} images in ${classNames.length} classes (${counts.join(', ')})` };
}

/** The arrays of a token file: a .npy is its tokens alone; a .npz holds tokens.npy (and heldout.npy for --split). */
async function readTokenArrays(path: string): Promise<{ tokens: NpyArray; heldout?: NpyArray }> {
  if (extname(path).toLowerCase() === '.npy') return { tokens: parseNpy(new Uint8Array(readFileSync(path)), path) };
  const cursor = await openFileCursor(path);
  try {
    const notZip = () => new ImageGPTError('E_BAD_FILE', `${path}: not a .npz (zip) file; token files are .npy or .npz as weights-tools/tokenize_data.py writes them`);
    const zip = await ZipReader.open(cursor, notZip);
    const read = async (name: string): Promise<NpyArray | undefined> => {
      const entry = zip.entry(`${name}.npy`);
      return entry ? parseNpy(await zip.read(entry, MAX_ENTRY_BYTES), `${path}: ${name}.npy`) : undefined;
    };
    const tokens = await read('tokens');
    if (!tokens) throw new ImageGPTError('E_NOT_FOUND', `${path}: no "tokens" array (tokenize_data.py writes tokens, uint16 [N, height*width])`);
    return { tokens, heldout: await read('heldout') };
  } finally {
    await cursor.close();
  }
}

/**
 * A token file's rows, each `tokensPerImage` palette ids below `numClusters` (the SOS id and anything above are
 * refused, naming the image and position). `split` keeps the rows tokenize_data.py marked held out, or the others.
 */
export async function readTokenFile(path: string, options: { numClusters: number; tokensPerImage: number; split: TokenSplit }): Promise<TrainingData> {
  const { tokens, heldout } = await readTokenArrays(path);
  const { numClusters, tokensPerImage, split } = options;
  if (tokens.shape.length !== 2 || tokens.shape[1] !== tokensPerImage) {
    throw new ImageGPTError('E_MISMATCH', `${path}: tokens have shape (${tokens.shape.join(', ')}); this model needs [N, ${tokensPerImage}] (one row of height × width tokens per image)`);
  }
  const [count] = tokens.shape;
  let keep = (_row: number) => true;
  if (split !== 'all') {
    if (!heldout) throw new ImageGPTError('E_BAD_INPUT', `--split ${split}: ${path} has no "heldout" array to split by (only .npz files from tokenize_data.py do)`);
    if (heldout.shape.length !== 1 || heldout.shape[0] !== count) {
      throw new ImageGPTError('E_BAD_FILE', `${path}: heldout has shape (${heldout.shape.join(', ')}), expected (${count})`);
    }
    keep = (row) => (heldout.values[row] !== 0) === (split === 'heldout');
  }
  const rows: number[][] = [];
  for (let r = 0; r < count; r++) {
    if (!keep(r)) continue;
    const row = Array.from(tokens.values.subarray(r * tokensPerImage, (r + 1) * tokensPerImage));
    const bad = row.findIndex((t) => !(t >= 0 && t < numClusters));
    if (bad >= 0) {
      throw new ImageGPTError('E_BAD_INPUT', `${path}: image ${r}, token ${bad} is ${row[bad]}; this model's palette ids are 0..${numClusters - 1} (vocab_size − 1; ${numClusters} is SOS, not a pixel)`);
    }
    rows.push(row);
  }
  if (rows.length === 0) throw new ImageGPTError('E_NOT_FOUND', `${path}: no images${split === 'all' ? '' : ` in --split ${split}`}`);
  const splitNote = split === 'all' ? '' : ` (--split ${split} of ${count})`;
  return { rows, description: `${path}: ${rows.length} images of ${tokensPerImage} tokens${splitNote}` };
}

/** A folder of images or a token file, whichever `path` is. `what` names the option in errors. */
export async function readTrainingData(
  path: string,
  what: string,
  processor: ImageGPTImageProcessor,
  split: TokenSplit,
): Promise<TrainingData> {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    throw new ImageGPTError('E_NOT_FOUND', `${what} ${path}: no such file or folder (expected a folder of images or a .npy/.npz token file)`);
  }
  if (isDirectory) {
    if (split !== 'all') throw new ImageGPTError('E_BAD_INPUT', `--split ${split} applies to .npz token files; ${what} ${path} is a folder`);
    return readImageFolder(path, processor);
  }
  const ext = extname(path).toLowerCase();
  if (ext !== '.npy' && ext !== '.npz') {
    throw new ImageGPTError('E_BAD_INPUT', `${what} ${path}: expected a folder of images or a .npy/.npz token file, got a ${ext || 'extension-less'} file`);
  }
  const tokensPerImage = processor.size.height * processor.size.width;
  return readTokenFile(path, { numClusters: processor.numClusters, tokensPerImage, split });
}
