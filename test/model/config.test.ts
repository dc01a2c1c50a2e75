// Issue 12 kinds 1, 2 and 10 for config.json: every field's type checked and named, every kernel constraint
// refused at parse time with its reason, deep nesting and bad JSON as clear Errors naming the file.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_CONFIG_DIMENSION, logitsWidth, parseImageGPTConfig, sosToken } from '../../src/model/config';
import { resolveSampling } from '../../src/model/sampling';
import { describeValue, parseJsonText } from '../../src/json';

const tiny = JSON.parse(readFileSync('test/fixtures/tiny/config.json', 'utf8')) as Record<string, unknown>;
const withField = (key: string, value: unknown) => ({ ...tiny, [key]: value });

/** The message of the Error `f` throws; fails if it throws anything else or nothing. */
function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(RangeError);
    return (e as Error).message;
  }
  throw new Error('expected an Error, nothing was thrown');
}

describe('valid configs', () => {
  it('every shipped and fixture config parses, with HF defaults filled in', () => {
    for (const dir of ['test/fixtures/tiny', 'test/fixtures/tiny-inv', 'test/fixtures/classifier', 'test/fixtures/torch', 'models/emoji-16', 'models/emoji-32']) {
      const config = parseImageGPTConfig(JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')));
      expect(config.vocab_size).toBe(513);
      expect(config.n_inner).toBe(4 * config.n_embd);
    }
    expect(parseImageGPTConfig({})).toEqual({
      vocab_size: 513,
      n_positions: 1024,
      n_embd: 512,
      n_layer: 24,
      n_head: 8,
      n_inner: 2048,
      activation_function: 'quick_gelu',
      layer_norm_epsilon: 1e-5,
      scale_attn_weights: true,
      scale_attn_by_inverse_layer_idx: false,
      reorder_and_upcast_attn: false,
      resid_pdrop: 0.1,
      embd_pdrop: 0.1,
      attn_pdrop: 0.1,
    });
    expect(parseImageGPTConfig({ resid_pdrop: 0, embd_pdrop: 0.2, attn_pdrop: 1 })).toMatchObject({ resid_pdrop: 0, embd_pdrop: 0.2, attn_pdrop: 1 });
  });

  it('n_inner null is 4·n_embd; an even n_inner is kept', () => {
    expect(parseImageGPTConfig(withField('n_inner', null)).n_inner).toBe(256);
    expect(parseImageGPTConfig(withField('n_inner', 130)).n_inner).toBe(130);
  });

  it('id2label of a classifier: integer keys, string labels', () => {
    const config = parseImageGPTConfig(withField('id2label', { '0': 'cat', '1': 'dog', '10': 'x' }));
    expect(config.id2label).toEqual({ 0: 'cat', 1: 'dog', 10: 'x' });
  });

  it('a "__proto__" key in the JSON sets nothing', () => {
    const config = parseImageGPTConfig(JSON.parse('{"__proto__": {"n_embd": 12, "n_head": 4}}'));
    expect(config.n_embd).toBe(512);
  });
});

describe('the kernels\' constraints, refused at parse time (kind 2)', () => {
  it('head size 3 (n_embd 12, n_head 4): the attention kernels read vec4', () => {
    expect(() => parseImageGPTConfig({ ...tiny, n_embd: 12, n_head: 4 })).toThrow(
      /ImageGPT config \(config\.json\): head size n_embd \/ n_head = 12 \/ 4 = 3 must be a multiple of 4 \(the attention kernels read vec4\)/,
    );
    expect(() => parseImageGPTConfig({ ...tiny, n_embd: 12, n_head: 2 })).toThrow(/= 6 must be a multiple of 4/);
    expect(parseImageGPTConfig({ ...tiny, n_embd: 16, n_head: 4 }).n_embd).toBe(16);
  });

  it('n_embd not divisible by n_head', () => {
    expect(() => parseImageGPTConfig({ ...tiny, n_head: 5 })).toThrow(/"n_embd" \(64\) must be divisible by n_head \(5\)/);
  });

  it('head size above 1024 (WebGPU guarantees 256 threads per workgroup)', () => {
    expect(() => parseImageGPTConfig({ ...tiny, n_embd: 2048, n_head: 1 })).toThrow(/head size n_embd \/ n_head = 2048 is above 1024/);
    expect(parseImageGPTConfig({ ...tiny, n_embd: 1024, n_head: 1 }).n_embd).toBe(1024);
  });

  it('odd n_inner: weight columns are read in pairs', () => {
    expect(() => parseImageGPTConfig(withField('n_inner', 255))).toThrow(/"n_inner" is 255: it must be even/);
  });

  it('vocab_size: odd (the head has vocab_size − 1 columns, read in pairs), 3..1025', () => {
    expect(() => parseImageGPTConfig(withField('vocab_size', 512))).toThrow(/"vocab_size" is 512: it must be odd/);
    expect(() => parseImageGPTConfig(withField('vocab_size', 2))).toThrow(/"vocab_size" is 2: expected 3\.\.1025/);
    expect(() => parseImageGPTConfig(withField('vocab_size', 1027))).toThrow(/"vocab_size" is 1027: expected 3\.\.1025.*at most 1024/);
    expect(parseImageGPTConfig(withField('vocab_size', 3)).vocab_size).toBe(3);
    expect(parseImageGPTConfig(withField('vocab_size', 1025)).vocab_size).toBe(1025);
  });

  it('layer_norm_epsilon: a positive normal float32 (the norm kernel gets it as f32)', () => {
    for (const eps of [0, -1e-5, 1e-46, 1e-39, 1e39, Infinity, NaN]) {
      expect(() => parseImageGPTConfig(withField('layer_norm_epsilon', eps))).toThrow(/"layer_norm_epsilon" must be a positive number that is a normal float32/);
    }
    expect(parseImageGPTConfig(withField('layer_norm_epsilon', 1e-12)).layer_norm_epsilon).toBe(1e-12);
  });

  it('sizes: integers in 1..65536', () => {
    for (const key of ['n_positions', 'n_embd', 'n_layer', 'n_head', 'vocab_size', 'n_inner']) {
      for (const bad of [0, -4, 64.5, MAX_CONFIG_DIMENSION * 2, 1e300]) {
        expect(() => parseImageGPTConfig(withField(key, bad)), `${key} = ${bad}`).toThrow(
          new RegExp(`"${key}" must be an integer in 1\\.\\.65536, got ${String(bad).replace(/[.+]/g, '\\$&')}`),
        );
      }
    }
  });

  it('unsupported features', () => {
    expect(() => parseImageGPTConfig(withField('activation_function', 'gelu'))).toThrow(/"activation_function" "gelu" is not supported; ImageGPT uses "quick_gelu"/);
    expect(() => parseImageGPTConfig(withField('tie_word_embeddings', true))).toThrow(/"tie_word_embeddings" is true/);
    expect(() => parseImageGPTConfig(withField('add_cross_attention', true))).toThrow(/cross-attention layers are not supported/);
    expect(() => parseImageGPTConfig(withField('model_type', 'gpt2'))).toThrow(/"model_type" is "gpt2", expected "imagegpt"/);
  });
});

describe('every field\'s type is checked and the field named (kind 2)', () => {
  it('numbers given as strings, booleans or null', () => {
    for (const key of ['n_positions', 'n_embd', 'n_layer', 'n_head', 'vocab_size', 'n_inner']) {
      expect(() => parseImageGPTConfig(withField(key, '64'))).toThrow(new RegExp(`"${key}" must be an integer in 1\\.\\.65536, got "64"`));
      expect(() => parseImageGPTConfig(withField(key, true))).toThrow(new RegExp(`"${key}" must be an integer.*got true`));
      expect(() => parseImageGPTConfig(withField(key, [64]))).toThrow(new RegExp(`"${key}" must be an integer.*got \\[64\\]`));
    }
    for (const key of ['n_positions', 'n_embd', 'n_layer', 'n_head', 'vocab_size']) {
      expect(() => parseImageGPTConfig(withField(key, null))).toThrow(new RegExp(`"${key}" must be an integer.*got null`));
    }
    expect(() => parseImageGPTConfig(withField('layer_norm_epsilon', '1e-5'))).toThrow(/"layer_norm_epsilon" must be a positive number.*got "1e-5"/);
  });

  it('booleans given as strings, numbers or null', () => {
    for (const key of ['scale_attn_weights', 'scale_attn_by_inverse_layer_idx', 'reorder_and_upcast_attn', 'tie_word_embeddings', 'add_cross_attention']) {
      for (const bad of ['true', 1, 0, null, {}]) {
        expect(() => parseImageGPTConfig(withField(key, bad)), `${key} = ${describeValue(bad)}`).toThrow(
          new RegExp(`"${key}" must be true or false, got`),
        );
      }
    }
  });

  it('fields the runtime ignores (dropout, initializer, cache, bookkeeping) still have their types checked', () => {
    const bad: [string, unknown, RegExp][] = [
      ['resid_pdrop', '3', /"resid_pdrop" must be a dropout probability in 0\.\.1, got "3"/],
      ['resid_pdrop', 3, /"resid_pdrop" must be a dropout probability in 0\.\.1, got 3/],
      ['embd_pdrop', null, /"embd_pdrop" must be a dropout probability in 0\.\.1, got null/],
      ['attn_pdrop', -0.1, /"attn_pdrop" must be a dropout probability/],
      ['initializer_range', '0.02', /"initializer_range" must be a finite number ≥ 0, got "0\.02"/],
      ['use_cache', 'true', /"use_cache" must be true or false, got "true"/],
      ['architectures', 'ImageGPTForCausalImageModeling', /"architectures" must be an array of class names/],
      ['architectures', [1], /"architectures" must be an array of class names/],
      ['torch_dtype', 32, /"torch_dtype" must be a string/],
      ['transformers_version', 4.36, /"transformers_version" must be a version string, got 4\.36/],
      ['bos_token_id', '512', /"bos_token_id" must be a token id/],
      ['eos_token_id', 1.5, /"eos_token_id" must be a token id/],
      ['pad_token_id', -1, /"pad_token_id" must be a token id/],
      ['label2id', { cat: '0' }, /"label2id" must be an object of label → class index/],
    ];
    for (const [key, value, message] of bad) expect(() => parseImageGPTConfig(withField(key, value)), `${key} = ${describeValue(value)}`).toThrow(message);
    // HF's own values pass: the fixture's nulls and the hub configs' use_cache, and the dropout range's ends.
    const good = { ...tiny, resid_pdrop: 1, embd_pdrop: 0, use_cache: false, label2id: { cat: 0 }, transformers_version: '4.36.2', pad_token_id: null };
    expect(parseImageGPTConfig(good).n_embd).toBe(64);
  });

  it('strings given as other types', () => {
    expect(() => parseImageGPTConfig(withField('activation_function', 1))).toThrow(/"activation_function" 1 is not supported/);
    expect(() => parseImageGPTConfig(withField('model_type', ['imagegpt']))).toThrow(/"model_type" is \["imagegpt"\]/);
  });

  it('id2label: not an object, non-index keys, non-string labels', () => {
    expect(() => parseImageGPTConfig(withField('id2label', ['cat']))).toThrow(/"id2label" must be an object of class index → label, got \["cat"\]/);
    expect(() => parseImageGPTConfig(withField('id2label', { cat: 'cat' }))).toThrow(/"id2label" key "cat" is not a class index/);
    expect(() => parseImageGPTConfig(withField('id2label', { '01': 'cat' }))).toThrow(/"id2label" key "01" is not a class index/);
    expect(() => parseImageGPTConfig(withField('id2label', { '-1': 'cat' }))).toThrow(/"id2label" key "-1"/);
    expect(() => parseImageGPTConfig(withField('id2label', { '0': 5 }))).toThrow(/"id2label" label of class 0 must be a string, got 5/);
  });

  it('not an object at all; the source is named', () => {
    expect(() => parseImageGPTConfig([1, 2])).toThrow(/ImageGPT config \(config\.json\): expected a JSON object, got \[1, 2\]/);
    expect(() => parseImageGPTConfig(null, 'https://host/m/config.json')).toThrow(/ImageGPT config \(https:\/\/host\/m\/config\.json\): expected a JSON object, got null/);
    expect(() => parseImageGPTConfig('{}')).toThrow(/expected a JSON object, got "\{\}"/);
  });
});

describe('exported helpers given no config or bad options: plain Errors naming the helper, not TypeErrors', () => {
  it('logitsWidth, sosToken, resolveSampling', () => {
    const config = parseImageGPTConfig(tiny);
    expect([logitsWidth(config), sosToken(config)]).toEqual([512, 512]);
    for (const bad of [undefined, null, 5, {}, { vocab_size: '513' }]) {
      expect(messageOf(() => logitsWidth(bad as never))).toMatch(/^logitsWidth: expected an ImageGPTConfig \(model\.config.*got /);
      expect(messageOf(() => sosToken(bad as never))).toMatch(/^sosToken: expected an ImageGPTConfig/);
    }
    for (const bad of [null, 7, 'greedy', [0.5]]) {
      expect(messageOf(() => resolveSampling(bad as never))).toMatch(/^resolveSampling: sampling options must be an object \{ temperature\?, topK\?, topP\?, seed\? \}, got /);
    }
    expect(messageOf(() => resolveSampling({ topP: -0.5 }))).toMatch(/^resolveSampling: topP must be in \[0, 1\]/);
    // topP 0 is HF's: it keeps the most likely token.
    expect(resolveSampling({ topP: 0, seed: 1 })).toEqual({ temperature: 1, topK: 40, topP: 0, seed: 1 });
  });
});

describe('untrusted JSON (kinds 1 and 10)', () => {
  const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

  it('a field nested 5,000 deep is a short Error, not a stack overflow', () => {
    for (const key of ['n_embd', 'vocab_size', 'n_inner', 'layer_norm_epsilon', 'activation_function', 'model_type', 'id2label', 'scale_attn_weights']) {
      const config = parseJsonText(`{"${key}": ${deep(5000)}}`, 'config.json');
      const message = messageOf(() => parseImageGPTConfig(config));
      expect(message).toMatch(new RegExp(`"${key}"`));
      expect(message).toMatch(/\[\[\[\[…1 item\]\]\]\]/);
      expect(message.length).toBeLessThan(300);
    }
    expect(messageOf(() => parseImageGPTConfig(parseJsonText(deep(5000), 'config.json')))).toMatch(/expected a JSON object, got \[\[\[\[…1 item\]\]\]\]/);
    expect(messageOf(() => parseImageGPTConfig(parseJsonText(`{"id2label": {"0": ${deep(5000)}}}`, 'c.json')))).toMatch(/label of class 0 must be a string/);
  });

  it('a config.json that is not JSON names the file', () => {
    expect(() => parseJsonText('{"n_embd": 64,', 'https://host/m/config.json')).toThrow(/^https:\/\/host\/m\/config\.json is not valid JSON: /);
    expect(() => parseJsonText('<html>404</html>', 'config.json')).toThrow(/config\.json is not valid JSON: Unexpected token/);
    expect(() => parseJsonText('', 'config.json')).toThrow(/config\.json is not valid JSON/);
  });

  it('describeValue is bounded in depth and length', () => {
    expect(describeValue(JSON.parse(deep(100000)))).toBe('[[[[…1 item]]]]');
    expect(describeValue({ a: { b: { c: { d: 1 } } } })).toBe('{"a": {"b": {"c": {…1 field}}}}');
    expect(describeValue('x'.repeat(1e6))).toBe(`"${'x'.repeat(40)}"…(1000000 characters)`);
    expect(describeValue(Array.from({ length: 1000 }, (_, i) => i))).toBe('[0, 1, 2, 3, 4, 5, 6, 7, …992 more]');
    expect(describeValue(Array.from({ length: 8 }, () => 'y'.repeat(40))).length).toBeLessThanOrEqual(120);
    expect(describeValue(new Float32Array(3))).toBe('Float32Array(3)');
    expect([undefined, null, NaN, -0, 1n, true].map((v) => describeValue(v))).toEqual(['undefined', 'null', 'NaN', '-0', '1n', 'true']);
  });
});
