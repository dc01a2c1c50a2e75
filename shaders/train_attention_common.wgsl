// What both training attention kernels share (train_attention.wgsl, portable; train_attention_blocked.wgsl, for CPU
// adapters): the dropout switch, the uniform of sizes and dropout terms, and the bindings. Prepended to either, after
// dropout_mask.wgsl. qkv and dqkv are [rows, 3E] (q | k | v, head h at columns h·D); O and dO are [rows, E]; rows b·T + t.

override DROPOUT: bool = false;

struct Dims {
  batch: u32,
  seq: u32,       // T
  heads: u32,
  headDim: u32,   // D ≤ MAX_HEAD_DIM
  scale: f32,
  dropSeed: u32,
  dropSite: u32,
  dropStep: u32,
  dropThreshold: u32,   // p · 2³²
  dropScale: f32,       // 1 / (1 − p)
  pad0: u32,
  pad1: u32,
}

// The blocked kernel's keyValueGrad keeps 2 × MAX_HEAD_DIM vec4 (4 KiB) a thread: 256 would pass WGSL's 8 KiB limit
// on a function's variables.
const MAX_HEAD_DIM = 128u;

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> outputs: array<f32>;   // O: the attention's merged output
@group(0) @binding(4) var<storage, read> dOut: array<f32>;       // dO
@group(0) @binding(5) var<storage, read_write> stats: array<f32>; // [rows, heads, 2]: L, D
@group(0) @binding(6) var<storage, read_write> dqkv: array<f32>;
