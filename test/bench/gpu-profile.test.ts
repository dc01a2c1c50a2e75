// The benchmark's GPU instruments (bench/gpu-profile.ts): the counting encoder records what it is given and
// counts it, countDevice puts the device back, the per-layer split adds up, kernel kinds come from labels,
// and the timestamp timer covers every Op of a step.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageGPT } from '../../src/model/imagegpt';
import { parseImageGPTConfig } from '../../src/model/config';
import { countDevice, countingEncoder, countingPass, kernelKind, stepCounts, timeStepKernels, zeroCounts } from '../../bench/gpu-profile';
import { createNodeDevice } from '../helpers/gpu';
import { FIXTURES } from '../helpers/fixtures';

let device: GPUDevice;
let model: ImageGPT;

beforeAll(async () => {
  ({ device } = await createNodeDevice({ optionalFeatures: ['timestamp-query'] }));
  const dir = join(FIXTURES, 'tiny');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  model = await ImageGPT.fromPretrained({ config, weights: new Uint8Array(readFileSync(join(dir, 'model.safetensors'))) }, { device, dtype: 'f32' });
});

afterAll(async () => {
  model.dispose();
  await device.queue.onSubmittedWorkDone();
  device.destroy();
});

describe('counting wrappers', () => {
  it('count dispatches and passes, and the recorded work still runs (out[i] += 1 per dispatch)', async () => {
    const module = device.createShaderModule({
      code: '@group(0) @binding(0) var<storage, read_write> out: array<u32>;\n@compute @workgroup_size(4) fn main(@builtin(global_invocation_id) g: vec3u) { out[g.x] += 1u; }',
    });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const out = device.createBuffer({ size: 32, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 32, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
    const counts = zeroCounts();
    const encoder = countingEncoder(device.createCommandEncoder(), counts);
    for (const dispatches of [2, 1]) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let i = 0; i < dispatches; i++) pass.dispatchWorkgroups(2);
      pass.end();
    }
    encoder.copyBufferToBuffer(out, 0, read, 0, 32);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const values = Array.from(new Uint32Array(read.getMappedRange().slice(0)));
    read.unmap();
    expect(counts).toEqual({ dispatches: 3, passes: 2, submits: 0 });
    expect(values).toEqual([3, 3, 3, 3, 3, 3, 3, 3]);
    out.destroy();
    read.destroy();
  });

  it('countDevice counts submits and whole calls, and restore() puts the device back', async () => {
    const create = device.createCommandEncoder;
    const submit = device.queue.submit;
    const counts = zeroCounts();
    const restore = countDevice(device, counts);
    try {
      await model.generate({ batchSize: 1, maxNewTokens: 3, seed: 1 });
    } finally {
      restore();
    }
    expect(counts.submits).toBeGreaterThanOrEqual(3);
    expect(counts.dispatches).toBeGreaterThan(3 * model.config.n_layer);
    expect(counts.passes).toBeGreaterThanOrEqual(counts.submits);
    expect(device.createCommandEncoder).toBe(create);
    expect(device.queue.submit).toBe(submit);
    const after = zeroCounts();
    countingPass(device.createCommandEncoder().beginComputePass(), after).end();
    expect(after).toEqual(zeroCounts());
  });
});

describe('step counts', () => {
  for (const [what, past, seq] of [['decode', 5, 1], ['prefill', 0, 16]] as const) {
    it(`${what}: the plan's step = the Ops of allOps() one by one, and per layer × n_layer + outside = the step`, async () => {
      const session = model.createSession(1);
      try {
        await session.runner.ready();
        const step = { batch: 1, seq, past };
        const c = stepCounts(model, session, step);
        const byOp = zeroCounts();
        const encoder = device.createCommandEncoder();
        const pass = countingPass(encoder.beginComputePass(), byOp);
        for (const op of session.runner.forwardPlan.allOps()) op.encode(pass, step);
        pass.end();
        encoder.finish();
        expect(c.step.dispatches).toBe(byOp.dispatches);
        expect(Number.isInteger(c.dispatchesPerLayer)).toBe(true);
        expect(c.dispatchesPerLayer!).toBeGreaterThanOrEqual(3);
        expect(c.dispatchesOutsideBlocks!).toBeGreaterThanOrEqual(2); // embed and head at least
        expect(c.dispatchesPerLayer! * model.config.n_layer + c.dispatchesOutsideBlocks!).toBe(c.step.dispatches);
        expect(c.passes).toBe(1);
      } finally {
        session.dispose();
      }
    });
  }
});

describe('kernelKind', () => {
  const config = parseImageGPTConfig({ model_type: 'imagegpt', n_embd: 512, n_head: 8, n_layer: 2, n_positions: 1024, vocab_size: 513 });
  it('names matmuls by shape, the rest by name, and the head by place (vocab − 1 = n_embd here)', () => {
    expect(kernelKind('matvec[512x1536 f16]', config)).toBe('qkv');
    expect(kernelKind('matvec[512x512 f16 +=]', config)).toBe('proj');
    expect(kernelKind('matmul[512x2048 f16 gelu]', config)).toBe('fc');
    expect(kernelKind('matmul[2048x512 f16 +=]', config)).toBe('mlpProj');
    expect(kernelKind('matvec[512x512 f16]', config, true)).toBe('head');
    expect(kernelKind('attention[512/8]', config)).toBe('attention');
    expect(kernelKind('kvAppend[512/8]', config)).toBe('kvAppend');
    expect(kernelKind('rmsNorm[512]', config)).toBe('norm');
    expect(kernelKind('embed', config)).toBe('embed');
    expect(kernelKind('somethingNew[3]', config)).toBe('somethingNew');
  });
});

describe('timeStepKernels', () => {
  it('times every Op of a decode step (timestamp-query), the kinds summing to the total', async () => {
    expect(device.features.has('timestamp-query')).toBe(true); // SwiftShader offers it; the bench asks for it
    const session = model.createSession(2, { maxLength: 16 });
    try {
      await session.runner.ready();
      session.runner.advance(4);
      const step = session.runner.writeStepOnly(1);
      const t = await timeStepKernels(model, session, step, 2);
      expect(t.ops).toBe(session.runner.forwardPlan.allOps().length);
      const kinds = Object.values(t.perKindUs);
      expect(kinds.every((us) => Number.isFinite(us) && us >= 0)).toBe(true);
      expect(kinds.reduce((a, b) => a + b, 0)).toBeCloseTo(t.totalUs, 6);
      expect(Object.keys(t.perKindUs)).toEqual(expect.arrayContaining(['embed', 'qkv', 'attention', 'proj', 'fc', 'mlpProj', 'head']));
      expect(t.timedStepWallMs).toBeGreaterThan(0);
    } finally {
      session.dispose();
    }
  });
});
