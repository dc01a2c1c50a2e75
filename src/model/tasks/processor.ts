// What the tasks need of an image processor (ImageGPTImageProcessor fits), the check that it matches the model, and
// images → token rows through it.
import type { ImageGPTConfig } from '../config';
import { describeValue } from '../../json';
import { ImageGPTError, badInput } from '../../errors';
import { isByteList, type Rgb } from '../../processor/image';

/** What `complete` needs of an image processor (ImageGPTImageProcessor fits). */
export interface CompletionProcessor {
  encode(images: never, options?: { background?: Rgb | null }): { inputIds: number[][] };
  decode(tokens: ArrayLike<number>, size: { height: number; width: number }): { data: Uint8ClampedArray<ArrayBuffer>; width: number; height: number };
  /** Image size in tokens; where given, height × width must equal the model's n_positions. */
  readonly size?: { height: number; width: number };
  /** Palette size; where given, it must equal the model's image vocabulary (vocab_size − 1). */
  readonly numClusters?: number;
}

/** The parts of a processor that turn images into tokens (features, bitsPerToken). */
export type EncodingProcessor = Pick<CompletionProcessor, 'encode' | 'size' | 'numClusters'>;

/**
 * Refuses a processor made for another model (before any GPU work): its palette must hold one color per image token
 * (vocab_size − 1) and its images n_positions tokens. ImageGPTError 'E_MISMATCH', naming both numbers.
 */
export function checkProcessorMatches(config: ImageGPTConfig, processor: EncodingProcessor, what: string): void {
  const clusters = processor.numClusters;
  const imageTokens = config.vocab_size - 1;
  if (clusters !== undefined && clusters !== imageTokens) {
    throw new ImageGPTError('E_MISMATCH', `${what}: the processor has ${describeValue(clusters)} colors, the model ${imageTokens} image tokens (vocab_size − 1); use the processor made for this model`);
  }
  const size = processor.size;
  if (size !== undefined && size.height * size.width !== config.n_positions) {
    throw new ImageGPTError(
      'E_MISMATCH',
      `${what}: the processor makes ${size.height}×${size.width} = ${size.height * size.width} tokens per image, the model expects n_positions = ${config.n_positions}; use the processor made for this model`,
    );
  }
}

/**
 * Images to token rows through the caller's processor; `background` is passed only when given, so the
 * processor's own default applies otherwise.
 */
export function encodeWith(processor: EncodingProcessor, images: unknown, background: Rgb | null | undefined, method: string): number[][] {
  if (background !== undefined && background !== null && !isByteList(background, 3)) {
    throw badInput(`${method}: background must be [r, g, b] with integers 0..255, or null; got ${describeValue(background)}`);
  }
  return (background === undefined ? processor.encode(images as never) : processor.encode(images as never, { background })).inputIds;
}
