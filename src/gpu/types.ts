// The contract between the model (src/model) and the kernels (src/gpu + shaders/).
// The model never sees WGSL; the kernels never see the model.

/** How weights are stored on the GPU: f32, or f16 packed two per u32 (unpacked in the shader). */
export type WeightDType = 'f32' | 'f16';

/**
 * A matrix of weights on the GPU, row-major [rows, cols] (Conv1D layout: [in, out]).
 * f16: element (r, c) is half (c & 1) of u32 word (r * cols + c) >> 1, low half first; cols is even.
 */
export interface GpuMatrix {
  buffer: GPUBuffer;
  dtype: WeightDType;
  rows: number;
  cols: number;
}

/**
 * What changes from one submit to the next. Activations are [rows, …] with row = b * seq + i
 * for sequence b (0 ≤ b < batch) and new token i (0 ≤ i < seq), at absolute position past + i.
 */
export interface StepShape {
  batch: number;
  seq: number;
  past: number;
}

/** One recorded kernel launch: its pipeline and bind group are made once, at creation. */
export interface Op {
  readonly label: string;
  /** Records the dispatch(es) for this step's shape into an open compute pass. */
  encode(pass: GPUComputePassEncoder, step: StepShape): void;
  /** Frees GPU memory the Op owns (scratch), if any; the Op is unusable afterwards. */
  destroy?(): void;
}
