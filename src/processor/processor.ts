// ImageGPTImageProcessor: images to color-cluster tokens and back, token for token what Hugging Face's
// ImageGPTImageProcessor gives (resize with Pillow's BILINEAR, normalize x/127.5 − 1, nearest cluster).

import { checkBackground, checkSize, colorChannels, readImage, type ImageInput, type Rgb } from './image';
import { ColorQuantizer } from './quantize';
import { packRgb, resizeBilinear } from './resize';
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

function toClusterArray(clusters: ImageGPTImageProcessorOptions['clusters']): Float64Array {
  let flat: Float64Array;
  if (clusters instanceof Float32Array || clusters instanceof Float64Array) {
    if (clusters.length === 0 || clusters.length % 3 !== 0) {
      throw new Error(`clusters must be N×3 values; got a flat array of ${clusters.length}`);
    }
    flat = Float64Array.from(clusters);
  } else {
    if (!Array.isArray(clusters) || clusters.length === 0) throw new Error('clusters must be a non-empty N×3 array');
    flat = new Float64Array(clusters.length * 3);
    clusters.forEach((row, i) => {
      if (!Array.isArray(row) || row.length !== 3) {
        throw new Error(`clusters must be N×3: row ${i} has ${Array.isArray(row) ? row.length : 'no'} values`);
      }
      flat.set(row, 3 * i);
    });
  }
  if (flat.length / 3 > 65535) throw new Error(`clusters has ${flat.length / 3} rows; at most 65535 are supported`);
  flat.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new Error(`cluster ${Math.floor(i / 3)} has a non-finite value (${v})`);
    // Decoding maps [-1, 1] to 0..255; outside it numpy's uint8 cast would wrap around.
    if (v < -1 || v > 1) throw new Error(`cluster ${Math.floor(i / 3)} has ${v}, outside the normalized range [-1, 1]`);
  });
  return flat;
}

function checkTargetSize(size: ImageSize): ImageSize {
  if (typeof size !== 'object' || size === null) throw new Error('size must be { height, width }');
  checkSize(size.width, size.height, 'target size');
  return { height: size.height, width: size.width };
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
   * From a Hugging Face model folder or hub URL (fetches `${base}/preprocessor_config.json`) or from that
   * file's parsed contents. Reads clusters, size, do_resize; do_normalize and do_color_quantize must be true
   * and resample bilinear (2), since tokens are what this processor makes.
   */
  /**
   * From a model's preprocessor_config.json: any source ImageGPT.fromPretrained takes (hub id, base URL, local
   * files, or `{ config, weights, preprocessor }`) with the same options, or the parsed config itself.
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
    if (typeof config !== 'object' || config === null) throw new Error(`${origin} is not a JSON object`);
    if (config.do_normalize === false) throw new Error(`${origin}: do_normalize false is not supported (clusters live in normalized space)`);
    if (config.do_color_quantize === false) throw new Error(`${origin}: do_color_quantize false is not supported (this processor makes tokens)`);
    if (config.resample !== undefined && config.resample !== PIL_BILINEAR) {
      throw new Error(`${origin}: resample ${String(config.resample)} is not supported; only bilinear (2) is`);
    }
    if (config.clusters === undefined) throw new Error(`${origin} has no "clusters"`);
    const { size } = config;
    let target: ImageSize;
    if (typeof size === 'number') target = { height: size, width: size }; // old configs: "size": 32
    else if (typeof size === 'object' && size !== null && 'height' in size && 'width' in size) target = size;
    else throw new Error(`${origin}: "size" must be a number or { height, width }, got ${JSON.stringify(size)}`);
    return new ImageGPTImageProcessor({ clusters: config.clusters, size: target, doResize: config.do_resize ?? true });
  }

  /** Resizes the color channels of an image (alpha dropped, grey repeated) as Pillow's BILINEAR does. */
  resize(image: ImageInput, size: ImageSize = this.size, options: { background?: Rgb | null } = {}): RgbImage {
    const { width, height } = checkTargetSize(size);
    const background = this.pickBackground(options.background);
    const data = resizeBilinear(colorChannels(readImage(image), background), width, height);
    return { data, width, height, channels: 3 };
  }

  /** Tokens, one row of height×width (row-major) per image; with prependSos, SOS first and the last dropped. */
  encode(images: ImageInput | readonly ImageInput[], options: EncodeOptions = {}): { inputIds: number[][] } {
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
    const { width, height } = checkTargetSize({ height: options.height ?? this.size.height, width: options.width ?? this.size.width });
    const pixels = width * height;
    const { fill } = options;
    if (tokens.length > pixels || (tokens.length < pixels && !fill)) {
      throw new Error(`decode got ${tokens.length} tokens for a ${height}×${width} image; expected ${pixels}` +
        (tokens.length < pixels ? ' (pass `fill` to show a partial image)' : ''));
    }
    if (fill && (fill.length !== 4 || !fill.every((v) => Number.isInteger(v) && v >= 0 && v <= 255))) {
      throw new Error(`fill must be [r, g, b, a] with integers 0..255, got ${JSON.stringify(fill)}`);
    }
    const data = new Uint8ClampedArray(pixels * 4);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= this.numClusters) {
        const hint = t === this.sosToken ? ` (${t} is SOS: drop it before decoding)` : '';
        throw new Error(`token ${t} at index ${i} is outside the cluster range 0..${this.numClusters - 1}${hint}`);
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
