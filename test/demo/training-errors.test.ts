// A failed fine-tuning run in plain words, chosen by the library's error code (not by reading the message).
import { describe, expect, it } from 'vitest';
import { ImageGPTError } from '../../src/index';
import { plainTrainingError } from '../../demo/src/training-errors';

describe('plainTrainingError', () => {
  it('says what to do for each kind of failure, keeping the message as a detail', () => {
    const limit = plainTrainingError('Teaching the style', new ImageGPTError('E_DEVICE_LIMIT', 'createTrainer: batchSize 16 × seqLength 1024 needs …'));
    expect(limit.title).toBe('Teaching the style needs more GPU memory than this GPU gives.');
    expect(limit.advice).toMatch(/^Lower the batch/);
    expect(limit.detail).toMatch(/^createTrainer: batchSize 16/);
    expect(plainTrainingError('Teaching the style', new ImageGPTError('E_DEVICE_LOST', 'lost')).title).toBe('The GPU stopped while teaching the style.');
    expect(plainTrainingError('Fine-tuning the classifier', { message: 'x', code: 'E_NETWORK' }).advice).toBe('Load the model again and retry.');
  });

  it('gives a refused input its own message as the advice, ending in one full stop', () => {
    expect(plainTrainingError('Teaching the style', { message: 'trainer.step: lr(1) returned NaN', code: 'E_BAD_INPUT' }).advice).toBe('trainer.step: lr(1) returned NaN.');
    expect(plainTrainingError('Teaching the style', { message: 'said.', code: 'E_BAD_INPUT' }).advice).toBe('said.');
  });

  it('falls back to a plain failure for errors without a code', () => {
    const plain = plainTrainingError('Teaching the style', new Error('no style-tuned model'));
    expect(plain.title).toBe('Teaching the style failed.');
    expect(plain.detail).toBe('no style-tuned model');
  });
});
