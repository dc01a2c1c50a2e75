// The embeddings for training: the forward h = wte[id] + wpe[t], and the gradients without float atomics. wte: thread (column e, token v) adds the gradient rows of
// the positions holding token v, listed by the host (a counting sort of the step's ids: `starts[v] .. starts[v+1]`
// index `rowsOf`), so every sum has one writer and a fixed order. wpe: thread (column e, position t) adds row
// b·T + t over the batch. Prepended: step.wgsl (unused).

struct Dims {
  batch: u32,
  seq: u32,     // T: positions per sequence
  dim: u32,     // E
  vocab: u32,   // rows of wte
}

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read> grad: array<f32>;        // [batch · seq, dim]: the embedding output's gradient
@group(0) @binding(3) var<storage, read> starts: array<u32>;      // [vocab + 1]
@group(0) @binding(4) var<storage, read> rowsOf: array<u32>;      // [batch · seq]: rows sorted by token
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // dwte [vocab, dim] or dwpe [positions, dim]
@group(0) @binding(6) var<storage, read> ids: array<u32>;         // [batch · seq]
@group(0) @binding(7) var<storage, read> wte: array<f32>;         // [vocab, dim]
@group(0) @binding(8) var<storage, read> wpe: array<f32>;         // [positions, dim]
@group(0) @binding(9) var<storage, read_write> hidden: array<f32>; // [batch · seq, dim]

@compute @workgroup_size(64)
fn embeddingForward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let row = gid.y;
  if (e >= dims.dim) {
    return;
  }
  hidden[row * dims.dim + e] = wte[ids[row] * dims.dim + e] + wpe[(row % dims.seq) * dims.dim + e];
}

@compute @workgroup_size(64)
fn tokenGrad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let v = gid.y;
  if (e >= dims.dim || v >= dims.vocab) {
    return;
  }
  var s = 0.0;
  for (var i = starts[v]; i < starts[v + 1u]; i++) {
    s += grad[rowsOf[i] * dims.dim + e];
  }
  out[v * dims.dim + e] = s;
}

@compute @workgroup_size(64)
fn positionGrad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let t = gid.y;
  if (e >= dims.dim || t >= dims.seq) {
    return;
  }
  var s = 0.0;
  for (var b = 0u; b < dims.batch; b++) {
    s += grad[(b * dims.seq + t) * dims.dim + e];
  }
  out[t * dims.dim + e] = s;
}
