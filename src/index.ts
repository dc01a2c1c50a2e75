// imagegpt-webgpu: the only door into the library.
// The public types name WebGPU's (GPUDevice, GPUBuffer…): the emitted index.d.ts keeps this reference (TS ≥ 5.5
// drops it without preserve="true"), and the
// package depends on @webgpu/types, so a consumer's TypeScript finds them without configuring anything.
/// <reference types="@webgpu/types" preserve="true" />
export { ImageGPT } from './model/imagegpt';
export type { ModelSource, LoadOptions, MemoryReport } from './model/imagegpt';
export type { ForwardOptions, ForwardOutput, ForwardResult } from './model/tasks/forward';
export type { FeatureOptions, MultiFeatureOptions } from './model/tasks/features';
// A type only: sessions come from `ImageGPT.createSession`, which hands them the model's weights and kernels.
export type { ImageGPTSession } from './model/session';
export type { SessionOptions } from './model/runner';
export type { RowInputs, StepInputs } from './model/inputs';
export type { HeadMask } from './model/hf-inputs';
export { parseImageGPTConfig, IMAGEGPT_DEFAULTS, logitsWidth, sosToken } from './model/config';
export type { ImageGPTConfig, ImageGPTConfigJSON } from './model/config';
export type { PretrainedSource, LocalFiles, FileOptions, LoadProgress, ModelCache } from './loading/types';
export type { WeightDType } from './gpu/types';
export type { KernelTuning } from './gpu/tuning';
export { isCpuAdapter } from './gpu/tuning';
export type { DeviceFeatures } from './model/imagegpt';
export { parseSafetensors, writeSafetensors, tensorToFloat32 } from './safetensors';
export type { SafetensorsDType, SafetensorsTensor, SafetensorsFile } from './safetensors';
export { LinearProbe } from './probe/index';
export type * from './probe/index';
export type { GenerateOptions, GenerateStats } from './model/tasks/generate-plan';
export type { CompleteOptions, Completion, CompletionRow } from './model/tasks/complete';
export type { CompletionProcessor } from './model/tasks/processor';
export type { BitsPerToken, BitsPerTokenOptions } from './model/tasks/likelihood';
export type { ProblemType } from './model/config';
export { resolveSampling, DEFAULT_TOP_K } from './model/sampling';
export type { SamplingOptions } from './model/sampling';
export { ImageGPTImageProcessor, upscaleNearest, maskRows } from './processor/index';
export type * from './processor/index';
export { ImageGPTError, ERROR_CODES, errorCode } from './errors';
export type { ErrorCode } from './errors';
// A type only: trainers come from `ImageGPT.createTrainer`, which ties them to the model's weights.
export type { Trainer, TrainerOptions, TrainStepOptions, TrainStepResult } from './train/trainer';
export type { ForImageClassificationOptions } from './model/classifier';
