// Generation with the loop on the GPU: each step records the forward of the newest token and the sampler, which
// writes the next token where the next step's embedding reads it (a given prompt token, or a sampled one). The CPU
// only records commands (one submit per token) and reads tokens back once per image row, through a Readback ring of
// staging buffers so the GPU never waits on mapAsync. The run consumes a GeneratePlan (generate-plan.ts).
import type { Sampler } from '../../gpu/sampler';
import { Readback, type StagedRead } from '../../gpu/readback';
import type { ImageGPTConfig } from '../config';
import { logitsWidth } from '../config';
import type { SessionLease } from '../session-cache';
import { AbortedError } from '../device-watch';
import { bufferBytes } from '../limits';
import { ImageGPTError } from '../../errors';
import { planGenerate, type GenerateOptions, type GeneratePlan, type GenerateStats } from './generate-plan';
import type { TaskContext } from './context';

/** Staging buffers for row readbacks. */
const RING = 3;
/**
 * The CPU may run at most MAX_IN_FLIGHT × CHECK_EVERY steps ahead of the GPU: that bounds the work an
 * abort leaves queued. Waiting on the GPU only every few steps matters where the wait spins the CPU
 * (Dawn in Node, SwiftShader) and would steal it from the GPU work itself.
 */
const CHECK_EVERY = 8;
const MAX_IN_FLIGHT = 2;

/** Refuses a checkpoint without the LM head (a classifier): `what` cannot generate. */
export function checkHasHead(ctx: TaskContext, what: string): void {
  if (!ctx.weights.lmHead) throw new ImageGPTError('E_UNSUPPORTED', `${what}: this checkpoint has no lm_head.weight (a classification checkpoint)`);
}

/** generate(): options checked once into a plan, then the run. Int32Array [B, prompt + new] (no SOS). */
export function generate(ctx: TaskContext, options: GenerateOptions): Promise<Int32Array> {
  checkHasHead(ctx, 'generate');
  const plan = planGenerate(ctx.config, ctx.budget, options, 'generate');
  return runGenerate(ctx.config, ctx.device, ctx.sampler(), ctx.sessions, plan);
}

interface RowRead {
  staged: StagedRead;
  from: number; // first step's token (index among the steps)
  count: number; // tokens per sample
  done: Promise<void>;
}

/**
 * Runs a planned generation on a runner taken from `sessions` and given back when the run ends: kept, with the run's
 * buffers, after a finished run; kept without them after an aborted one; freed after a failed one.
 * Returns the plan's result, Int32Array [B, columns] image tokens (no SOS).
 */
export async function runGenerate(config: ImageGPTConfig, device: GPUDevice, sampler: Sampler, sessions: SessionLease, plan: GeneratePlan): Promise<Int32Array> {
  const { batch: B, columns, shortest, offset, steps, width, out, stats, signal } = plan;
  const abortError = () => new AbortedError(plan.what);
  if (signal?.aborted) throw abortError();
  const lease = sessions.take(B, plan.cacheLength);
  const runner = lease.runner;
  // A run that finished or was aborted by its signal leaves the runner for reuse: its queued GPU work runs before
  // the next call's (one queue) and the next call starts from an empty cache. Any other failure frees it.
  let outcome: 'finished' | 'aborted' | 'failed' = 'failed';
  const historyLength = plan.historyLength;
  const readbacksInFlight: Promise<void>[] = [];
  const count = (k: keyof GenerateStats) => {
    if (stats) stats[k]++;
  };
  try {
    await runner.ready();
    // Made once per runner shape and kept with it (the lease frees them), so a same-shape call makes nothing. The
    // history's length and the sampler op's bindings follow from the runner's shape; the ring from the row width.
    const history = lease.keep('history', '', () =>
      device.createBuffer({ label: 'history', size: bufferBytes(B * historyLength * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST }),
    );
    const promptEnds = lease.keep('promptEnds', '', () => device.createBuffer({ label: 'prompt ends', size: bufferBytes(B * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST }));
    const params = lease.keep('params', '', () => sampler.createParamsBuffer());
    // Once per run: the prompts at their positions (the sampler keeps them) and where each row's prompt ends.
    device.queue.writeBuffer(history, 0, plan.history);
    device.queue.writeBuffer(promptEnds, 0, plan.promptEnds);
    sampler.writeParams(params, plan.sampling);
    const buf = runner.buffers;
    const sample = lease.keep('sample', '', () =>
      sampler.sample({ step: buf.step, params, logits: buf.logits, vocab: logitsWidth(config), nextIds: buf.ids, history, historyLength, promptEnds }),
    );
    // Made now at a row's size: nothing is made per step (the last read may be shorter, never longer).
    const ring = lease.keep('ring', `${width}`, () => new Readback(device, { label: 'tokens', slots: RING, bytes: B * width * 4 }));
    /** Row reads in flight, oldest first: at most RING (one per staging buffer). */
    const readbacks: RowRead[] = [];
    let delivered = 0;

    const deliver = (upTo: number) => {
      for (let g = delivered; g < upTo; g++) {
        if (plan.onTokens) {
          const t = new Int32Array(B);
          for (let b = 0; b < B; b++) t[b] = out[b * columns + shortest + g];
          plan.onTokens({ step: g, tokens: t });
        }
        const index = shortest + g;
        if (plan.onRow && (index + 1) % width === 0) {
          const row = (index + 1) / width - 1;
          const rowTokens = new Int32Array(B * width);
          for (let b = 0; b < B; b++) rowTokens.set(out.subarray(b * columns + row * width, b * columns + (row + 1) * width), b * width);
          plan.onRow({ row, tokens: rowTokens });
        }
      }
      delivered = Math.max(delivered, upTo);
    };

    // Copies step tokens [from, from + n) of every sample to the ring's next staging buffer, in the step's encoder.
    const recordReadback = async (encoder: GPUCommandEncoder, from: number, n: number): Promise<RowRead> => {
      // The oldest read holds the buffer staged next: wait until its tokens are delivered (and it is unmapped).
      if (readbacks.length === RING) await readbacks.shift()!.done;
      const staged = ring.stage(B * n * 4);
      for (let b = 0; b < B; b++) staged.copy(encoder, history, (b * historyLength + offset + shortest + from) * 4, b * n * 4, n * 4);
      return { staged, from, count: n, done: Promise.resolve() };
    };
    const startMap = (r: RowRead) => {
      count('readbacks');
      r.done = r.staged.map(B * r.count * 4).then((data) => {
        const tokens = new Int32Array(data);
        for (let b = 0; b < B; b++) out.set(tokens.subarray(b * r.count, (b + 1) * r.count), b * columns + shortest + r.from);
        deliver(r.from + r.count);
      });
      // Awaited later; a rejection meanwhile (device lost, a throwing callback) must not go unhandled.
      r.done.catch(() => {});
      readbacks.push(r);
      readbacksInFlight.push(r.done);
    };

    const inFlight: Promise<unknown>[] = [];
    let generated = 0; // steps recorded so far
    let unread = 0; // of which not yet queued for readback
    let pending: RowRead | null = null;
    // Before a sampling step's submit: a readback of its image row's tokens when the row ends (or the run does).
    const beforeSampled = async (encoder: GPUCommandEncoder) => {
      generated++;
      unread++;
      count('steps');
      const index = shortest + generated - 1;
      if ((index + 1) % width === 0 || generated === steps) {
        pending = await recordReadback(encoder, generated - unread, unread);
        unread = 0;
      }
    };
    const afterSampled = async () => {
      count('submits');
      if (pending) startMap(pending);
      pending = null;
      if (generated % CHECK_EVERY === 0) {
        const done = device.queue.onSubmittedWorkDone();
        done.catch(() => {}); // awaited below, or dropped when the run fails
        inFlight.push(done);
        if (inFlight.length > MAX_IN_FLIGHT) await inFlight.shift();
      }
    };

    // Prefill (SOS + the common prefix) in chunks; the last chunk's last position gives the first step's token.
    await runner.run(plan.prefix, {
      encode: (_step, isLast) => ({ head: isLast, extra: isLast ? [sample] : [] }),
      beforeSubmit: (encoder, _step, _from, isLast) => (isLast ? beforeSampled(encoder) : undefined),
      afterSubmit: (_step, _from, isLast) => (isLast ? afterSampled() : count('submits')),
    });
    // Decode: the sampler already wrote each sequence's next token into the ids buffer. The same encode options
    // every step (nothing made per token); every row sits at its true position, so no position ids or key mask.
    const decodeOptions = { head: true, extra: [sample] };
    while (generated < steps) {
      if (signal?.aborted) throw abortError();
      await runner.decodeStep(decodeOptions, beforeSampled);
      await afterSampled();
    }
    await Promise.all(readbacks.map((r) => r.done));
    if (signal?.aborted) throw abortError();
    outcome = 'finished';
    return out;
  } catch (e) {
    if (e instanceof AbortedError) outcome = 'aborted';
    throw e;
  } finally {
    // Submitted work still completes after destroy(); a pending map just rejects (ignored: we are leaving).
    for (const p of readbacksInFlight) p.catch(() => {});
    sessions.give(lease, outcome);
  }
}
