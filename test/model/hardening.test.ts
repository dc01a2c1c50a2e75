// Issue 12: the runtime's failure paths — limits, sizes, leaks, device loss, option checks, no clamping.
import { describe, it, expect } from 'vitest';
import { parseImageGPTConfig } from '../../src/model/config';
import { DEFAULT_BATCH_SIZE, largestBatchThatFits, modelLimitNeeds, sessionSizes } from '../../src/model/limits';

// imagegpt-large's shapes (HF config): 1536 wide, 48 layers, 16 heads, 1024 positions.
const large = parseImageGPTConfig({ n_embd: 1536, n_layer: 48, n_head: 16 });
const MiB = 2 ** 20;

describe('device limits for the library defaults (kind 6)', () => {
  it('imagegpt-large at the default batch needs more than 128 MiB per binding; the need is the KV cache of one layer', () => {
    const need = modelLimitNeeds(large, { batchSize: DEFAULT_BATCH_SIZE, maxLength: 1024 });
    // K of one layer: 32 sequences × 1024 positions × 1536 × 4 bytes = 192 MiB.
    expect(need.maxStorageBufferBindingSize).toBe(32 * 1024 * 1536 * 4);
    expect(need.maxBufferSize).toBeGreaterThanOrEqual(need.maxStorageBufferBindingSize);
    expect(need.maxStorageBufferBindingSize).toBeGreaterThan(128 * MiB);
    expect(sessionSizes(large, { batchSize: 32, maxLength: 1024 }).kv).toBe(192 * MiB);
  });

  it('largest batch that fits: 21 at 128 MiB (6 MiB of KV per sequence per layer), 170 at 1 GiB, 0 when the weights do not fit', () => {
    expect(largestBatchThatFits(large, { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB }, 1024)).toBe(21);
    expect(largestBatchThatFits(large, { maxBufferSize: 1024 * MiB, maxStorageBufferBindingSize: 1024 * MiB }, 1024)).toBe(170);
    expect(largestBatchThatFits(large, { maxBufferSize: MiB, maxStorageBufferBindingSize: MiB }, 1024)).toBe(0);
  });
});
