// ImageGPTImageProcessor: images to color-cluster tokens and back, token for token what Hugging Face's
// ImageGPTImageProcessor gives (resize with Pillow's filter, BILINEAR by default; normalize x/127.5 − 1;
// nearest cluster).

import { checkBackground, checkSize, colorChannels, isByteList, readImage, type ImageInput, type Rgb } from './image';
import { ColorQuantizer } from './quantize';
import { packRgb, resizeRgb, RESAMPLE_FILTERS, type ResampleFilter } from './resize';
import { clip, describeValue, errorMessage, isJsonObject } from '../json';
import { loadPreprocessorConfig, type FileOptions, type PretrainedSource } from '../loading/index';
import { ImageGPTError, type ErrorCode } from '../errors';

/** Height and width in pixels (= tokens per column and per row). */
export interface ImageSize {
  height: number;
  width: number;
}

/** Packed 8-bit RGB, row-major (HWC). */
export interface RgbImage {
  data: Uint8Array<ArrayBuffer>;
  width: number;
  height: number;
  channels: 3;
}

/** Packed 8-bit RGBA, row-major, alpha 255: usable as `new ImageData(data, width, height)` (its own
 * ArrayBuffer, never a shared one, which is what ImageData's type asks for since TypeScript 5.7). */
export interface RgbaImage {
  data: Uint8ClampedArray<ArrayBuffer>;
  width: number;
  height: number;
}

export interface ImageGPTImageProcessorOptions {
  /** N×3 cluster centers in [-1, 1] (`number[][]`, or N*3 values row-major). Float32 values are widened to
   * float64, exactly as Hugging Face treats clusters read from preprocessor_config.json. */
  clusters: readonly (readonly number[])[] | Float32Array | Float64Array;
  /** Size images are resized to before quantizing. Default 32×32. */
  size?: ImageSize;
  /** Resize to `size` (default true). When false, images are quantized at their own size. */
  doResize?: boolean;
  /** Composite RGBA images onto this color first. Default (or `null`): alpha is dropped, as Hugging Face does. */
  background?: Rgb | null;
  /** Normalize pixels to x/127.5 − 1 before quantizing (HF's do_normalize). Default true; false quantizes
   * the 0..255 values against the clusters, as HF does then. */
  normalize?: boolean;
  /** Pillow's resampling filter for the resize (HF's `resample`). Default 'bilinear', what ImageGPT configs use. */
  resample?: ResampleFilter;
  /** OpenAI's original convention: SOS (= number of clusters) first and the last token dropped. Default false
   * (Hugging Face feeds the tokens without SOS). */
  prependSos?: boolean;
}

/** Per-call overrides of the processor's defaults. */
export interface EncodeOptions {
  /** Composite RGBA images onto this color; `null` drops alpha even when the processor has a background. */
  background?: Rgb | null;
  prependSos?: boolean;
}

export interface DecodeOptions extends Partial<ImageSize> {
  /** RGBA for the pixels after the last token, so a partial grid (kept rows, or rows still being
   * generated) can be shown. Without it, the token count must be exactly height×width. */
  fill?: readonly [number, number, number, number];
}

/** The fields of a Hugging Face `preprocessor_config.json` that this processor reads. */
export interface PreprocessorConfig {
  clusters?: number[][];
  size?: number | { height: number; width: number };
  do_resize?: boolean;
  do_normalize?: boolean;
  do_color_quantize?: boolean;
  /** Pillow's filter number: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming. */
  resample?: number;
  /** Our extension (Hugging Face ignores it): the [r, g, b] that RGBA images are composited onto by default,
   * the color the model's training images were composited onto. Absent: alpha is dropped, as HF does. */
  background_color?: [number, number, number];
  [field: string]: unknown;
}

/** A parsed preprocessor config (not a source: no weights, not a Map, a list of files or a URL). */
function isParsedConfig(s: unknown): s is PreprocessorConfig {
  if (typeof s !== 'object' || s === null || s instanceof URL || s instanceof Map || Array.isArray(s)) return false;
  if (typeof FileList !== 'undefined' && s instanceof FileList) return false;
  return !('weights' in s);
}

/** Pillow's filter numbers (a config's `resample`) by name. */
const FILTER_BY_NUMBER = new Map<unknown, ResampleFilter>(Object.entries(RESAMPLE_FILTERS).map(([name, n]) => [n, name as ResampleFilter]));

/** At most this many clusters: tokens and SOS must fit the model's vocabulary (ImageGPT: 512). */
const MAX_CLUSTERS = 65535;

function toClusterArray(clusters: ImageGPTImageProcessorOptions['clusters']): Float64Array {
  let flat: Float64Array;
  if (clusters instanceof Float32Array || clusters instanceof Float64Array) {
    if (clusters.length === 0 || clusters.length % 3 !== 0) {
      throw new ImageGPTError('E_BAD_INPUT', `clusters must be N×3 values; got a flat array of ${clusters.length}`);
    }
    if (clusters.length / 3 > MAX_CLUSTERS) throw new ImageGPTError('E_BAD_INPUT', `clusters has ${clusters.length / 3} rows; at most ${MAX_CLUSTERS} are supported`);
    flat = Float64Array.from(clusters);
  } else {
    if (!Array.isArray(clusters) || clusters.length === 0) {
      throw new ImageGPTError('E_BAD_INPUT', `clusters must be a non-empty N×3 array of numbers, got ${describeValue(clusters)}`);
    }
    if (clusters.length > MAX_CLUSTERS) throw new ImageGPTError('E_BAD_INPUT', `clusters has ${clusters.length} rows; at most ${MAX_CLUSTERS} are supported`);
    flat = new Float64Array(clusters.length * 3);
    // Indexed loops: forEach would skip the holes of a sparse array and leave zeros there.
    for (let i = 0; i < clusters.length; i++) {
      const row: unknown = clusters[i];
      if (!Array.isArray(row) || row.length !== 3) {
        throw new ImageGPTError('E_BAD_INPUT', `clusters must be N×3: row ${i} has ${Array.isArray(row) ? `${row.length} values` : `no values (${describeValue(row)})`}`);
      }
      for (let c = 0; c < 3; c++) {
        const v: unknown = row[c];
        // Numbers only: a "0.2" or a true would otherwise be coerced by Float64Array.
        if (typeof v !== 'number') throw new ImageGPTError('E_BAD_INPUT', `cluster ${i} has ${describeValue(v)} at position ${c}; expected a number`);
        flat[3 * i + c] = v;
      }
    }
  }
  flat.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new ImageGPTError('E_BAD_INPUT', `cluster ${Math.floor(i / 3)} has a non-finite value (${v})`);
    // Decoding maps [-1, 1] to 0..255; outside it numpy's uint8 cast would wrap around.
    if (v < -1 || v > 1) throw new ImageGPTError('E_BAD_INPUT', `cluster ${Math.floor(i / 3)} has ${v}, outside the normalized range [-1, 1]`);
  });
  return flat;
}

/**
 * The largest target side. ImageGPT works at 32×32 (1,024 tokens); 4096×4096 (16 M tokens, about 50 MB of RGB
 * and 128 MB of token ids per image) is far past any model, and a larger size would only exhaust memory.
 */
export const MAX_TARGET_SIDE = 4096;

function checkTargetSize(size: ImageSize): ImageSize {
  if (typeof size !== 'object' || size === null) throw new ImageGPTError('E_BAD_INPUT', `size must be { height, width }, got ${describeValue(size)}`);
  const { height, width } = size as { height: unknown; width: unknown };
  if (typeof height !== 'number' || typeof width !== 'number') {
    throw new ImageGPTError('E_BAD_INPUT', `target size must be { height, width } of integers, got height ${describeValue(height)}, width ${describeValue(width)}`);
  }
  checkSize(width, height, 'target size');
  if (width > MAX_TARGET_SIDE || height > MAX_TARGET_SIDE) {
    throw new ImageGPTError('E_BAD_INPUT', `target size is ${width}×${height}: each side must be at most ${MAX_TARGET_SIDE} (ImageGPT works at 32×32)`);
  }
  return { height, width };
}

/** numpy's rint (round half to even) for non-negative values. */
function roundHalfEven(v: number): number {
  const floor = Math.floor(v);
  const rest = v - floor;
  if (rest !== 0.5) return rest < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

export class ImageGPTImageProcessor {
  /** Cluster centers, N×3 row-major, float64. */
  readonly clusters: Float64Array;
  /** Number of clusters N: tokens are 0..N−1 and SOS is N. */
  readonly numClusters: number;
  /** The SOS token id (= numClusters, 512 for OpenAI's checkpoints). */
  readonly sosToken: number;
  readonly size: ImageSize;
  readonly doResize: boolean;
  /** The default background RGBA images are composited onto; undefined: alpha is dropped. */
  readonly background: Rgb | undefined;
  readonly prependSos: boolean;
  /** False: pixels are quantized as 0..255 (HF's do_normalize false). */
  readonly normalize: boolean;
  readonly resample: ResampleFilter;
  /** Each cluster's 8-bit color, rint(127.5·(c + 1)), N×3: what `decode` paints. */
  readonly palette: Uint8Array<ArrayBuffer>;
  private readonly quantizer: ColorQuantizer;

  constructor(options: ImageGPTImageProcessorOptions) {
    named('new ImageGPTImageProcessor', () => {
      if (typeof options !== 'object' || options === null || Array.isArray(options)) {
        throw new ImageGPTError('E_BAD_INPUT', `expected options { clusters, size?, … }, got ${describeValue(options)}`);
      }
      checkCallOptions('options', options, CONSTRUCTOR_OPTIONS);
      for (const key of ['doResize', 'prependSos', 'normalize'] as const) {
        if (options[key] !== undefined && typeof options[key] !== 'boolean') throw new ImageGPTError('E_BAD_INPUT', `${key} must be true or false, got ${describeValue(options[key])}`);
      }
      if (options.background !== undefined && options.background !== null) checkBackground(options.background);
      if (options.resample !== undefined && !Object.prototype.hasOwnProperty.call(RESAMPLE_FILTERS, options.resample)) {
        throw new ImageGPTError('E_BAD_INPUT', `resample must be one of ${Object.keys(RESAMPLE_FILTERS).join(', ')}; got ${describeValue(options.resample)}`);
      }
    });
    this.clusters = named('new ImageGPTImageProcessor', () => toClusterArray(options.clusters));
    this.numClusters = this.clusters.length / 3;
    this.sosToken = this.numClusters;
    // `size: null` is refused rather than read as the default: only an absent size means 32×32.
    this.size = named('new ImageGPTImageProcessor', () => checkTargetSize(options.size === undefined ? { height: 32, width: 32 } : options.size));
    this.doResize = options.doResize ?? true;
    this.background = options.background ?? undefined;
    this.prependSos = options.prependSos ?? false;
    this.normalize = options.normalize ?? true;
    this.resample = options.resample ?? 'bilinear';
    this.palette = Uint8Array.from(this.clusters, (c) => roundHalfEven(127.5 * (c + 1)));
    this.quantizer = new ColorQuantizer(this.clusters, this.normalize);
  }

  /**
   * From a model's preprocessor_config.json: any source ImageGPT.fromPretrained takes (hub id, base URL, local
   * files, or `{ config, weights, preprocessor }`) with the same options, or the parsed config itself.
   * Reads clusters, size, do_resize, do_normalize, resample and our `background_color`; do_color_quantize must
   * be true, since tokens are what this processor makes. `background` overrides the config's (`null`: drop alpha).
   */
  static async fromPretrained(
    source: PretrainedSource | PreprocessorConfig | { config: unknown; weights: ArrayBuffer | Uint8Array; preprocessor?: unknown },
    options: FileOptions & { background?: Rgb | null } = {},
  ): Promise<ImageGPTImageProcessor> {
    const method = 'ImageGPTImageProcessor.fromPretrained';
    try {
      if (typeof options !== 'object' || options === null || Array.isArray(options)) {
        throw new ImageGPTError('E_BAD_INPUT', `options must be an object, got ${describeValue(options)}`);
      }
      const background = options.background;
      if (background !== undefined && background !== null) checkBackground(background);
      const override = background === undefined ? {} : { background };
      if (isParsedConfig(source)) return ImageGPTImageProcessor.fromConfig(source, undefined, override);
      const fileOptions = { ...options };
      delete fileOptions.background;
      const { config, origin } = await loadPreprocessorConfig(source as PretrainedSource, fileOptions);
      return ImageGPTImageProcessor.fromConfig(config as PreprocessorConfig, origin, override);
    } catch (e) {
      // The loader's and the config's messages are shared; say which call failed.
      if (e instanceof Error && !e.message.startsWith(`${method}: `)) e.message = `${method}: ${e.message}`;
      throw e;
    }
  }

  /**
   * From the parsed contents of a preprocessor_config.json; `origin` names it in errors. `overrides` replace
   * what the config says (`background: null` drops alpha whatever its background_color).
   */
  static fromConfig(
    config: PreprocessorConfig,
    origin = 'preprocessor config',
    overrides: { background?: Rgb | null } = {},
  ): ImageGPTImageProcessor {
    if (typeof origin !== 'string') throw new ImageGPTError('E_BAD_INPUT', `ImageGPTImageProcessor.fromConfig: origin must be a string naming the config, got ${describeValue(origin)}`);
    if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
      throw new ImageGPTError('E_BAD_INPUT', `ImageGPTImageProcessor.fromConfig: overrides must be an object, got ${describeValue(overrides)}`);
    }
    named('ImageGPTImageProcessor.fromConfig', () => checkCallOptions('overrides', overrides, ['background']));
    if (!isJsonObject(config)) throw new ImageGPTError('E_BAD_FILE', `${clip(origin)} is not a JSON object: got ${describeValue(config)}`);
    const fail = (problem: string, code: ErrorCode = 'E_BAD_FILE'): never => {
      throw new ImageGPTError(code, `${clip(origin)}: ${problem}`);
    };
    // Own fields only: nothing may come from Object.prototype.
    const get = (key: string): unknown => (Object.prototype.hasOwnProperty.call(config, key) ? config[key] : undefined);
    const flag = (key: string): boolean | undefined => {
      const v = get(key);
      if (v !== undefined && typeof v !== 'boolean') fail(`"${key}" must be true or false, got ${describeValue(v)}`);
      return v as boolean | undefined;
    };
    const normalize = flag('do_normalize') ?? true;
    // Without quantization HF returns pixel values, not tokens: nothing a token model can be fed.
    if (flag('do_color_quantize') === false) fail('do_color_quantize false is not supported (this processor makes tokens)', 'E_UNSUPPORTED');
    const doResize = flag('do_resize') ?? true;
    const resampleNumber = get('resample');
    const resample = resampleNumber === undefined ? 'bilinear' : FILTER_BY_NUMBER.get(resampleNumber);
    if (resample === undefined) {
      fail(`resample ${describeValue(resampleNumber)} is not one of Pillow's filters: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming`);
    }
    const configBackground = get('background_color');
    if (configBackground !== undefined && configBackground !== null && !isByteList(configBackground, 3)) {
      fail(`"background_color" must be [r, g, b] with integers 0..255 (or null), got ${describeValue(configBackground)}`);
    }
    const background = overrides.background !== undefined ? overrides.background : ((configBackground ?? null) as Rgb | null);
    const clusters = get('clusters');
    if (clusters === undefined) throw new ImageGPTError('E_BAD_FILE', `${clip(origin)} has no "clusters"`);
    if (!Array.isArray(clusters)) fail(`"clusters" must be an N×3 array of numbers, got ${describeValue(clusters)}`);
    const size = get('size');
    let target: ImageSize;
    if (typeof size === 'number') target = { height: size, width: size }; // old configs: "size": 32
    else if (isJsonObject(size) && 'height' in size && 'width' in size) target = size as unknown as ImageSize;
    else fail(`"size" must be a number or { height, width }, got ${describeValue(size)}`);
    try {
      return new ImageGPTImageProcessor({ clusters: clusters as number[][], size: target!, doResize, normalize, resample, background });
    } catch (e) {
      // The constructor's messages name the value; say which file it came from instead of the constructor.
      throw new ImageGPTError('E_BAD_FILE', `${clip(origin)}: ${errorMessage(e).replace(/^new ImageGPTImageProcessor: /, '')}`);
    }
  }


  /** Resizes the color channels of an image (alpha dropped, grey repeated) as Pillow's BILINEAR does. */
  resize(image: ImageInput, size: ImageSize = this.size, options: { background?: Rgb | null } = {}): RgbImage {
    return named('resize', () => {
      checkCallOptions('options', options, ['background']);
      const { width, height } = checkTargetSize(size);
      const background = this.pickBackground(options.background);
      const data = resizeRgb(colorChannels(readImage(image), background), width, height, this.resample);
      return { data, width, height, channels: 3 };
    });
  }

  /** Tokens, one row of height×width (row-major) per image; with prependSos, SOS first and the last dropped. */
  encode(images: ImageInput | readonly ImageInput[], options: EncodeOptions = {}): { inputIds: number[][] } {
    return named('encode', () => this.encodeImages(images, options));
  }

  private encodeImages(images: ImageInput | readonly ImageInput[], options: EncodeOptions): { inputIds: number[][] } {
    checkCallOptions('options', options, ['background', 'prependSos']);
    if (options.prependSos !== undefined && typeof options.prependSos !== 'boolean') {
      throw new ImageGPTError('E_BAD_INPUT', `prependSos must be true or false, got ${describeValue(options.prependSos)}`);
    }
    if (images === undefined || images === null) throw new ImageGPTError('E_BAD_INPUT', `expected an image or an array of images, got ${describeValue(images)}`);
    const list = Array.isArray(images) ? (images as readonly ImageInput[]) : [images as ImageInput];
    const background = this.pickBackground(options.background);
    const prependSos = options.prependSos ?? this.prependSos;
    // Index by index, not map(): map skips the holes of a sparse array and would return holes.
    const inputIds: number[][] = [];
    for (let i = 0; i < list.length; i++) inputIds.push(this.encodeOne(list[i], background, prependSos, Array.isArray(images) ? `images[${i}]` : 'the image'));
    return { inputIds };
  }

  private encodeOne(image: ImageInput, background: Rgb | undefined, prependSos: boolean, what: string): number[] {
    {
      const source = colorChannels(readImage(image, what), background);
      const rgb = this.doResize ? resizeRgb(source, this.size.width, this.size.height, this.resample) : packRgb(source);
      const count = rgb.length / 3;
      const tokens = new Array<number>(count);
      this.quantizer.quantize(rgb, tokens);
      if (prependSos) {
        tokens.pop();
        tokens.unshift(this.sosToken);
      }
      return tokens;
    }
  }

  /** Token ids to RGBA pixels with the clusters' colors. Size defaults to the processor's. */
  decode(tokens: ArrayLike<number>, options: DecodeOptions = {}): RgbaImage {
    return named('decode', () => this.decodeTokens(tokens, options));
  }

  private decodeTokens(tokens: ArrayLike<number>, options: DecodeOptions): RgbaImage {
    if (!Array.isArray(tokens) && !(ArrayBuffer.isView(tokens) && !(tokens instanceof DataView))) {
      throw new ImageGPTError('E_BAD_INPUT', `tokens must be an array or typed array of token ids, got ${describeValue(tokens)}`);
    }
    checkCallOptions('options', options, ['height', 'width', 'fill']);
    if (options.fill !== undefined && !Array.isArray(options.fill)) throw new ImageGPTError('E_BAD_INPUT', `fill must be [r, g, b, a], got ${describeValue(options.fill)}`);
    const { width, height } = checkTargetSize({ height: options.height ?? this.size.height, width: options.width ?? this.size.width });
    const pixels = width * height;
    const { fill } = options;
    if (tokens.length > pixels || (tokens.length < pixels && !fill)) {
      throw new ImageGPTError('E_BAD_INPUT', `got ${tokens.length} tokens for a ${height}×${width} image; expected ${pixels}` +
        (tokens.length < pixels ? ' (pass `fill` to show a partial image)' : ''));
    }
    if (fill && !isByteList(fill, 4)) {
      throw new ImageGPTError('E_BAD_INPUT', `fill must be [r, g, b, a] with integers 0..255, got ${describeValue(fill)}`);
    }
    const data = new Uint8ClampedArray(pixels * 4);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= this.numClusters) {
        const hint = t === this.sosToken ? ` (${t} is SOS: drop it before decoding)` : '';
        throw new ImageGPTError('E_BAD_INPUT', `token ${describeValue(t)} at index ${i} is outside the cluster range 0..${this.numClusters - 1}${hint}`);
      }
      data[4 * i] = this.palette[3 * t];
      data[4 * i + 1] = this.palette[3 * t + 1];
      data[4 * i + 2] = this.palette[3 * t + 2];
      data[4 * i + 3] = 255;
    }
    if (fill) for (let i = tokens.length; i < pixels; i++) data.set(fill, 4 * i);
    return { data, width, height };
  }

  private pickBackground(override: Rgb | null | undefined): Rgb | undefined {
    if (override === null) return undefined;
    if (override === undefined) return this.background;
    checkBackground(override);
    return override;
  }
}

const CONSTRUCTOR_OPTIONS = ['clusters', 'size', 'doResize', 'background', 'prependSos', 'normalize', 'resample'];

/** A call's options: undefined or an object of known keys (a misspelt key would be silently ignored). */
function checkCallOptions(what: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ImageGPTError('E_BAD_INPUT', `${what} must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new ImageGPTError('E_BAD_INPUT', `unknown option ${describeValue(key)}; known options: ${known.join(', ')}`);
  }
}

/**
 * Runs one public method's work; an Error it throws gets the method's name in front (the helpers below
 * it are shared, so only the entry point knows which call the caller made).
 */
export function named<T>(method: string, work: () => T): T {
  try {
    return work();
  } catch (e) {
    if (e instanceof Error && !e.message.startsWith(`${method}: `)) e.message = `${method}: ${e.message}`;
    throw e;
  }
}
