// The demo's plain-words errors and the run history's bookkeeping (no DOM).
import { describe, expect, it } from 'vitest';
import { plainImageError, plainLoadError } from '../../demo/src/errors';
import { ImageGPTError, type ErrorCode } from '../../src/errors';
import { RunHistory, keptLabel, pngName, settingsRows, type RunRecord, type RunSettings } from '../../demo/src/history';

describe('plainLoadError', () => {
  it('names the bad config field and what it must be, without the library prefix', () => {
    const e = plainLoadError('local: x', { code: 'E_BAD_FILE', message: 'ImageGPT config (config.json): "n_head" must be an integer in 1..65536, got "four"' }, 'emoji-16');
    expect(e.title).toBe('local: x: its config.json has a bad value in the field "n_head".');
    expect(e.advice).toBe('"n_head" must be an integer in 1..65536, got "four". Fix that field in config.json (or pick another model). The page keeps using emoji-16.');
    expect(e.detail).toContain('ImageGPT config');
  });

  it('says a config that is not JSON is damaged, keeping the parser text only as a detail', () => {
    const raw = 'config.json (the local files) is not valid JSON: Unterminated string in JSON at position 40';
    const e = plainLoadError('m', { code: 'E_BAD_FILE', message: raw }, '');
    expect(e.title).toBe('m: its config.json is damaged.');
    expect(e.advice).not.toMatch(/Unterminated|position/);
    expect(e.advice).not.toMatch(/keeps using/);
    expect(e.detail).toBe(raw);
  });

  it('names a missing file, from a hub URL too', () => {
    const e = plainLoadError('org/m', { code: 'E_NOT_FOUND', message: 'preprocessor_config.json was not found in org/m (https://hub/org/m/resolve/main/preprocessor_config.json)' }, 'a');
    expect(e.title).toBe('org/m: preprocessor_config.json is missing.');
    expect(e.advice).toMatch(/The page keeps using a\.$/);
  });

  it('passes any other message through as a sentence', () => {
    const e = plainLoadError('m', new Error('the processor has 16 colors, the model 512 image tokens'), 'b');
    expect(e.title).toBe('m could not be loaded.');
    expect(e.advice).toBe('The processor has 16 colors, the model 512 image tokens. The page keeps using b.');
    expect(e.detail).toBe('');
  });

  it('keeps a file name or field that starts the message as it is spelled (no "Pytorch_model.bin")', () => {
    const dropped = 'pytorch_model.bin: the download from http://127.0.0.1:37401/test-org/tiny-bin/resolve/main/pytorch_model.bin failed or broke off (network error)';
    expect(plainLoadError('test-org/tiny-bin', { message: dropped }, 'emoji-16').advice).toBe(`${dropped}. The page keeps using emoji-16.`);
    expect(plainLoadError('m', { message: 'n_head must divide n_embd' }, '').advice).toBe('n_head must divide n_embd.');
    expect(plainImageError('a.png', 'image/png', { message: 'https://x/a.png could not be fetched' }).advice).toMatch(/^https:\/\/x\/a\.png could not be fetched\. Try another image\./);
  });
});

describe('plainLoadError by code', () => {
  const at = (code: ErrorCode, message: string) => plainLoadError('m', new ImageGPTError(code, message), 'emoji-16');

  it('takes the kind of problem from the code, not the wording', () => {
    // The same words under two codes: a damaged file and a missing one.
    const words = 'model.safetensors: something about it';
    expect(at('E_BAD_FILE', words).title).toBe('m: its model.safetensors is damaged.');
    expect(at('E_NOT_FOUND', words).title).toBe('m: model.safetensors is missing.');
    // No code (an error from outside the library): the message passes through.
    expect(plainLoadError('m', new Error(words), '').title).toBe('m could not be loaded.');
  });

  it('E_BAD_FILE names the damaged file, or says a file when none is named', () => {
    const e = at('E_BAD_FILE', 'pytorch_model.bin: the zip central directory is cut short');
    expect(e.title).toBe('m: its pytorch_model.bin is damaged.');
    expect(e.advice).toMatch(/^pytorch_model\.bin cannot be read: .*good copy.* The page keeps using emoji-16\.$/);
    expect(e.detail).toContain('central directory');
    expect(at('E_BAD_FILE', 'the header is cut short').title).toBe('m: one of its files is damaged.');
  });

  it('E_NOT_FOUND names a missing tensor apart from a missing file', () => {
    const e = at('E_NOT_FOUND', "model.safetensors: missing tensor 'h.0.ln_1.weight' (expected shape [64])");
    expect(e.title).toBe("m: its weights lack the tensor 'h.0.ln_1.weight'.");
    expect(at('E_NOT_FOUND', 'no such model').title).toBe('m: a file it needs is missing.');
    expect(at('E_NOT_FOUND', 'no such model').advice).toMatch(/config\.json, preprocessor_config\.json/);
  });

  it('E_UNSUPPORTED, E_NETWORK, E_DEVICE_LIMIT, E_DEVICE_LOST and E_MISMATCH each say what to do', () => {
    expect(at('E_UNSUPPORTED', 'tensor dtype I8 is not supported').title).toBe('m uses something this page cannot run.');
    expect(at('E_UNSUPPORTED', 'ImageGPT config (config.json): "activation_function" gelu is not supported').title)
      .toBe('m: its config.json has a bad value in the field "activation_function".');
    expect(at('E_NETWORK', 'config.json: the download failed (offline)')).toEqual({
      title: 'm could not be downloaded.',
      advice: 'config.json: the download failed (offline). Check the connection and try again. The page keeps using emoji-16.',
      detail: '',
    });
    expect(at('E_DEVICE_LIMIT', 'the weights need 2 GiB, the GPU allows 1 GiB').title).toBe('m is too large for this GPU.');
    expect(at('E_DEVICE_LOST', 'the device was lost').advice).toMatch(/^Reload the page/);
    expect(at('E_MISMATCH', 'the processor has 16 colors, the model 512 image tokens').title).toBe('m: its image processor and its weights do not belong together.');
  });

  it('reads the code from any error that carries one (the page\'s rebuilt worker error)', () => {
    const rebuilt = Object.assign(new Error('preprocessor_config.json was not found in x'), { code: 'E_NOT_FOUND' });
    expect(plainLoadError('m', rebuilt, '').title).toBe('m: preprocessor_config.json is missing.');
  });
});

describe('plainImageError', () => {
  it('names the file and its type and says what to pick', () => {
    const e = plainImageError('notes.txt', 'text/plain', new ImageGPTError('E_BAD_FILE', 'this file (text/plain) is not an image the browser can read'));
    expect(e.title).toBe('"notes.txt" (text/plain) could not be used as the image.');
    expect(e.advice).toMatch(/PNG, JPEG/);
    expect(e.advice).toMatch(/no image to complete/);
  });
});

const settings = (over: Partial<RunSettings> = {}): RunSettings => ({
  model: 'openai/imagegpt-small',
  imageSize: 16,
  prompt: { data: new Uint8ClampedArray(16 * 16 * 4), width: 16, height: 16 },
  keepRows: 8,
  keptRows: [8, 8],
  varied: false,
  samples: 2,
  temperature: 0,
  topK: 0,
  seed: 42,
  ...over,
});

describe('run history', () => {
  it('keeps the newest first and at most its limit', () => {
    const h = new RunHistory(3);
    for (let n = 1; n <= 5; n++) h.add({ number: n, settings: settings(), images: [], outcome: 'done', seconds: 1 });
    expect(h.all.map((r) => r.number)).toEqual([5, 4, 3]);
    h.clear();
    expect(h.all).toEqual([]);
    expect(() => new RunHistory(0)).toThrow(/positive integer/);
  });

  it('labels kept rows, greedy temperature and top-k off', () => {
    expect(keptLabel(settings())).toBe('8 of 16');
    expect(keptLabel(settings({ varied: true, keptRows: [8, 7, 6] }))).toBe('8 → 6 of 16 (varied)');
    expect(keptLabel(settings({ prompt: null, keepRows: 0 }))).toBe('none (from scratch)');
    expect(settingsRows(settings())).toEqual([
      ['Model', 'openai/imagegpt-small'], ['Rows kept', '8 of 16'], ['Samples', '2'],
      ['Temperature', '0.00 (greedy)'], ['Top-k', 'off'], ['Seed', '42'],
    ]);
  });

  it('names saved files by model, seed, run and sample, partial after Stop', () => {
    const r: RunRecord = { number: 3, settings: settings(), images: [], outcome: 'stopped', seconds: 1 };
    expect(pngName(r)).toBe('imagegpt-openai_imagegpt-small-seed42-run3-partial.png');
    expect(pngName({ ...r, outcome: 'done' }, 1)).toBe('imagegpt-openai_imagegpt-small-seed42-run3-2.png');
  });
});
