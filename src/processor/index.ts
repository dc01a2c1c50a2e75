// Pixels ⇄ color-cluster tokens (no GPU): the public surface of the image processor.
export {
  ImageGPTImageProcessor,
  type ImageGPTImageProcessorOptions,
  type EncodeOptions,
  type DecodeOptions,
  type PreprocessorConfig,
  type ImageSize,
  type RgbImage,
  type RgbaImage,
} from './processor';
export type { ImageInput, PixelImage, BrowserImageSource, Rgb } from './image';
export type { ResampleFilter } from './resize';
export { upscaleNearest, maskRows } from './display';
