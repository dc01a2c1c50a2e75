// ImageGPTImageProcessor: images to color-cluster tokens and back, token for token what Hugging Face's
// ImageGPTImageProcessor gives (resize with Pillow's BILINEAR, normalize x/127.5 − 1, nearest cluster).

import { checkBackground, checkSize, colorChannels, readImage, type ImageInput, type Rgb } from './image';
import { ColorQuantizer } from './quantize';
import { packRgb, resizeBilinear } from './resize';
import { describeValue, errorMessage, isJsonObject } from '../json';
import { loadPreprocessorConfig } from '../loading/sources';
import type { FileOptions, PretrainedSource } from '../loading/types';

/** Height and width in pixels (= tokens per column and per row). */
export interface ImageSize {
  height: number;
  width: number;
}

/** Packed 8-bit RGB, row-major (HWC). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

/** Packed 8-bit RGBA, row-major, alpha 255: usable as `new ImageData(data, width, height)`. */
export interface RgbaImage {
  data: Uint8ClampedArray;
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
  /** Composite RGBA images onto this color first. Default: alpha is dropped, as Hugging Face does. */
  background?: Rgb;
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
  resample?: number;
  [field: string]: unknown;
}

/** A parsed preprocessor config (not a source: no weights, not a Map, a list of files or a URL). */
function isParsedConfig(s: unknown): s is PreprocessorConfig {
  if (typeof s !== 'object' || s === null || s instanceof URL || s instanceof Map || Array.isArray(s)) return false;
  if (typeof FileList !== 'undefined' && s instanceof FileList) return false;
  return !('weights' in s);
}

/** PIL's Image.BILINEAR, the only filter HF's ImageGPT configs use. */
const PIL_BILINEAR = 2;

/** At most this many clusters: tokens and SOS must fit the model's vocabulary (ImageGPT: 512). */
const MAX_CLUSTERS = 65535;

function toClusterArray(clusters: ImageGPTImageProcessorOptions['clusters']): Float64Array {
  let flat: Float64Array;
  if (clusters instanceof Float32Array || clusters instanceof Float64Array) {
    if (clusters.length === 0 || clusters.length % 3 !== 0) {
      throw new Error(`clusters must be N×3 values; got a flat array of ${clusters.length}`);
    }
    if (clusters.length / 3 > MAX_CLUSTERS) throw new Error(`clusters has ${clusters.length / 3} rows; at most ${MAX_CLUSTERS} are supported`);
    flat = Float64Array.from(clusters);
  } else {
    if (!Array.isArray(clusters) || clusters.length === 0) {
      throw new Error(`clusters must be a non-empty N×3 array of numbers, got ${describeValue(clusters)}`);
    }
    if (clusters.length > MAX_CLUSTERS) throw new Error(`clusters has ${clusters.length} rows; at most ${MAX_CLUSTERS} are supported`);
    flat = new Float64Array(clusters.length * 3);
    clusters.forEach((row: unknown, i) => {
      if (!Array.isArray(row) || row.length !== 3) {
        throw new Error(`clusters must be N×3: row ${i} has ${Array.isArray(row) ? `${row.length} values` : `no values (${describeValue(row)})`}`);
      }
      row.forEach((v: unknown, c) => {
        // Numbers only: a "0.2" or a true would otherwise be coerced by Float64Array.
        if (typeof v !== 'number') throw new Error(`cluster ${i} has ${describeValue(v)} at position ${c}; expected a number`);
        flat[3 * i + c] = v;
      });
    });
  }
  flat.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new Error(`cluster ${Math.floor(i / 3)} has a non-finite value (${v})`);
    // Decoding maps [-1, 1] to 0..255; outside it numpy's uint8 cast would wrap around.
    if (v < -1 || v > 1) throw new Error(`cluster ${Math.floor(i / 3)} has ${v}, outside the normalized range [-1, 1]`);
  });
  return flat;
}

/**
 * The largest target side. ImageGPT works at 32×32 (1,024 tokens); 4096×4096 (16 M tokens, about 50 MB of RGB
 * and 128 MB of token ids per image) is far past any model, and a larger size would only exhaust memory.
 */
export const MAX_TARGET_SIDE = 4096;

function checkTargetSize(size: ImageSize): ImageSize {
  if (typeof size !== 'object' || size === null) throw new Error(`size must be { height, width }, got ${describeValue(size)}`);
  const { height, width } = size as { height: unknown; width: unknown };
  if (typeof height !== 'number' || typeof width !== 'number') {
    throw new Error(`target size must be { height, width } of integers, got height ${describeValue(height)}, width ${describeValue(width)}`);
  }
  checkSize(width, height, 'target size');
  if (width > MAX_TARGET_SIDE || height > MAX_TARGET_SIDE) {
    throw new Error(`target size is ${width}×${height}: each side must be at most ${MAX_TARGET_SIDE} (ImageGPT works at 32×32)`);
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
  readonly background: Rgb | undefined;
  readonly prependSos: boolean;
  /** Each cluster's 8-bit color, rint(127.5·(c + 1)), N×3: what `decode` paints. */
  readonly palette: Uint8Array;
  private readonly quantizer: ColorQuantizer;

  constructor(options: ImageGPTImageProcessorOptions) {
    this.clusters = toClusterArray(options.clusters);
    this.numClusters = this.clusters.length / 3;
    this.sosToken = this.numClusters;
    this.size = checkTargetSize(options.size ?? { height: 32, width: 32 });
    this.doResize = options.doResize ?? true;
    if (options.background) checkBackground(options.background);
    this.background = options.background;
    this.prependSos = options.prependSos ?? false;
    this.palette = Uint8Array.from(this.clusters, (c) => roundHalfEven(127.5 * (c + 1)));
    this.quantizer = new ColorQuantizer(this.clusters);
  }

  /**
   * From a model's preprocessor_config.json: any source ImageGPT.fromPretrained takes (hub id, base URL, local
   * files, or `{ config, weights, preprocessor }`) with the same options, or the parsed config itself.
   * Reads clusters, size, do_resize; do_normalize and do_color_quantize must be true and resample bilinear (2),
   * since tokens are what this processor makes.
   */
  static async fromPretrained(
    source: PretrainedSource | PreprocessorConfig | { config: unknown; weights: ArrayBuffer | Uint8Array; preprocessor?: unknown },
    options: FileOptions = {},
  ): Promise<ImageGPTImageProcessor> {
    if (isParsedConfig(source)) return ImageGPTImageProcessor.fromConfig(source);
    const { config, origin } = await loadPreprocessorConfig(source as PretrainedSource, options);
    return ImageGPTImageProcessor.fromConfig(config as PreprocessorConfig, origin);
  }

  /** From the parsed contents of a preprocessor_config.json; `origin` names it in errors. */
  static fromConfig(config: PreprocessorConfig, origin = 'preprocessor config'): ImageGPTImageProcessor {
    if (!isJsonObject(config)) throw new Error(`${origin} is not a JSON object: got ${describeValue(config)}`);
    const fail = (problem: string): never => {
      throw new Error(`${origin}: ${problem}`);
    };
    // Own fields only: nothing may come from Object.prototype.
    const get = (key: string): unknown => (Object.prototype.hasOwnProperty.call(config, key) ? config[key] : undefined);
    const flag = (key: string): boolean | undefined => {
      const v = get(key);
      if (v !== undefined && typeof v !== 'boolean') fail(`"${key}" must be true or false, got ${describeValue(v)}`);
      return v as boolean | undefined;
    };
    if (flag('do_normalize') === false) fail('do_normalize false is not supported (clusters live in normalized space)');
    if (flag('do_color_quantize') === false) fail('do_color_quantize false is not supported (this processor makes tokens)');
    const doResize = flag('do_resize') ?? true;
    const resample = get('resample');
    if (resample !== undefined && resample !== PIL_BILINEAR) {
      fail(`resample ${describeValue(resample)} is not supported; only bilinear (2) is`);
    }
    const clusters = get('clusters');
    if (clusters === undefined) throw new Error(`${origin} has no "clusters"`);
    if (!Array.isArray(clusters)) fail(`"clusters" must be an N×3 array of numbers, got ${describeValue(clusters)}`);
    const size = get('size');
    let target: ImageSize;
    if (typeof size === 'number') target = { height: size, width: size }; // old configs: "size": 32
    else if (isJsonObject(size) && 'height' in size && 'width' in size) target = size as unknown as ImageSize;
    else fail(`"size" must be a number or { height, width }, got ${describeValue(size)}`);
    try {
      return new ImageGPTImageProcessor({ clusters: clusters as number[][], size: target!, doResize });
    } catch (e) {
      // The constructor's messages name the value; say which file it came from.
      throw new Error(`${origin}: ${errorMessage(e)}`);
    }
  }


  /** Resizes the color channels of an image (alpha dropped, grey repeated) as Pillow's BILINEAR does. */
  resize(image: ImageInput, size: ImageSize = this.size, options: { background?: Rgb | null } = {}): RgbImage {
    checkCallOptions('resize', options, ['background']);
    const { width, height } = checkTargetSize(size);
    const background = this.pickBackground(options.background);
    const data = resizeBilinear(colorChannels(readImage(image), background), width, height);
    return { data, width, height, channels: 3 };
  }

  /** Tokens, one row of height×width (row-major) per image; with prependSos, SOS first and the last dropped. */
  encode(images: ImageInput | readonly ImageInput[], options: EncodeOptions = {}): { inputIds: number[][] } {
    checkCallOptions('encode', options, ['background', 'prependSos']);
    if (options.prependSos !== undefined && typeof options.prependSos !== 'boolean') {
      throw new Error(`encode: prependSos must be true or false, got ${describeValue(options.prependSos)}`);
    }
    if (images === undefined || images === null) throw new Error(`encode: expected an image or an array of images, got ${describeValue(images)}`);
    const list = Array.isArray(images) ? (images as readonly ImageInput[]) : [images as ImageInput];
    const background = this.pickBackground(options.background);
    const prependSos = options.prependSos ?? this.prependSos;
    const inputIds = list.map((image) => {
      const source = colorChannels(readImage(image), background);
      const rgb = this.doResize ? resizeBilinear(source, this.size.width, this.size.height) : packRgb(source);
      const count = rgb.length / 3;
      const tokens = new Array<number>(count);
      this.quantizer.quantize(rgb, tokens);
      if (prependSos) {
        tokens.pop();
        tokens.unshift(this.sosToken);
      }
      return tokens;
    });
    return { inputIds };
  }

  /** Token ids to RGBA pixels with the clusters' colors. Size defaults to the processor's. */
  decode(tokens: ArrayLike<number>, options: DecodeOptions = {}): RgbaImage {
    if (!Array.isArray(tokens) && !(ArrayBuffer.isView(tokens) && !(tokens instanceof DataView))) {
      throw new Error(`decode: tokens must be an array or typed array of token ids, got ${tokens === null ? 'null' : typeof tokens}`);
    }
    checkCallOptions('decode', options, ['height', 'width', 'fill']);
    if (options.fill !== undefined && !Array.isArray(options.fill)) throw new Error(`decode: fill must be [r, g, b, a], got ${typeof options.fill}`);
    const { width, height } = checkTargetSize({ height: options.height ?? this.size.height, width: options.width ?? this.size.width });
    const pixels = width * height;
    const { fill } = options;
    if (tokens.length > pixels || (tokens.length < pixels && !fill)) {
      throw new Error(`decode got ${tokens.length} tokens for a ${height}×${width} image; expected ${pixels}` +
        (tokens.length < pixels ? ' (pass `fill` to show a partial image)' : ''));
    }
    if (fill && (fill.length !== 4 || !fill.every((v) => Number.isInteger(v) && v >= 0 && v <= 255))) {
      throw new Error(`fill must be [r, g, b, a] with integers 0..255, got ${describeValue(fill)}`);
    }
    const data = new Uint8ClampedArray(pixels * 4);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= this.numClusters) {
        const hint = t === this.sosToken ? ` (${t} is SOS: drop it before decoding)` : '';
        throw new Error(`token ${describeValue(t)} at index ${i} is outside the cluster range 0..${this.numClusters - 1}${hint}`);
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

/** A call's options: undefined or an object of known keys (a misspelt key would be silently ignored). */
function checkCallOptions(what: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error(`${what}: options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new Error(`${what}: unknown option ${describeValue(key)}; known options: ${known.join(', ')}`);
  }
}
