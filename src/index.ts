// imagegpt-webgpu: the only door into the library.
export { ImageGPT } from './model/imagegpt';
export type { ModelSource, LoadOptions, ForwardOptions, ForwardOutput, FeatureOptions, MemoryReport } from './model/imagegpt';
export { ImageGPTSession } from './model/session';
export type { SessionOptions } from './model/session';
export { parseImageGPTConfig, IMAGEGPT_DEFAULTS, logitsWidth, sosToken } from './model/config';
export type { ImageGPTConfig, ImageGPTConfigJSON } from './model/config';
export type { PretrainedSource, LocalFiles, FileOptions, LoadProgress, ModelCache } from './loading/types';
export type { WeightDType } from './gpu/types';
export { parseSafetensors, writeSafetensors, tensorToFloat32 } from './safetensors';
export type { SafetensorsDType, SafetensorsTensor, SafetensorsFile } from './safetensors';
export { LinearProbe } from './probe/index';
export type * from './probe/index';
export type { GenerateOptions, GenerateStats } from './model/generate';
export type { CompleteOptions, Completion, CompletionProcessor, MultiFeatureOptions } from './model/imagegpt';
export { resolveSampling, DEFAULT_TOP_K } from './model/sampling';
export type { SamplingOptions } from './model/sampling';
export { ImageGPTImageProcessor, upscaleNearest, maskRows } from './processor/index';
export type * from './processor/index';
