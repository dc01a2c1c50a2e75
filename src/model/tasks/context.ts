// What every task (generate, complete, forward, features, likelihood) is given by the ImageGPT façade: the model's
// parts and where runners come from. Tasks import nothing of the façade: no callbacks back into it beyond these.
import type { Kernels } from '../../gpu/kernels';
import type { Sampler } from '../../gpu/sampler';
import type { WeightDType } from '../../gpu/types';
import type { ImageGPTConfig } from '../config';
import type { Runner, SessionOptions } from '../runner';
import type { SessionLease } from '../session-cache';
import type { ModelWeights } from '../weights';
import type { DeviceBudget } from './generate-plan';
import { checkSessionFits } from '../limits';

export interface TaskContext {
  config: ImageGPTConfig;
  device: GPUDevice;
  dtype: WeightDType;
  kernels: Kernels;
  weights: ModelWeights;
  /** The device's limits with the weights' dtype and the kernels' tuning: what a batch must fit. */
  budget: DeviceBudget;
  /** A runner for this call alone (counted in the model's memory; dispose it when done). */
  openRunner(batchSize: number, options: SessionOptions): Runner;
  /** generate/complete's cached runner (session-cache.ts). */
  sessions: SessionLease;
  /** The model's sampler, made on first use. */
  sampler(): Sampler;
}

/** Fails before allocating where a runner of this shape exceeds the device's limits (naming the largest batch that fits). */
export function checkBatchFits(ctx: TaskContext, what: string, batchSize: number, maxLength: number, maxRows?: number): void {
  checkSessionFits(ctx.config, ctx.budget.limits, { batchSize, maxLength, maxRows, dtype: ctx.budget.dtype, tuning: ctx.budget.tuning }, what);
}
