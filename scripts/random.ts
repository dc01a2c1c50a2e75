// Seeded random numbers and random ImageGPT checkpoints, for tests and benchmarks alike.
import type { ImageGPTConfig } from '../src/model/config';

/** A seeded uniform generator in [0, 1) (mulberry32): the same seed gives the same draws everywhere. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random weights with HF names, for tests that need a model of any shape. */
export function randomWeights(config: ImageGPTConfig, seed: number, std = 0.08): Map<string, Float32Array> {
  let s = seed >>> 0 || 1;
  const rand = () => {
    // xorshift32 → uniform in (-1, 1), scaled to roughly the given std
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s / 2 ** 32) * 2 - 1;
  };
  const { n_embd: E, n_inner: I, n_positions: P, vocab_size: V, n_layer: L } = config;
  const m = new Map<string, Float32Array>();
  const add = (name: string, n: number, gen: () => number) => m.set(name, Float32Array.from({ length: n }, gen));
  const g = () => rand() * std * 1.7;
  const ln = () => 1 + rand() * 0.2;
  add('transformer.wte.weight', V * E, g);
  add('transformer.wpe.weight', P * E, g);
  for (let i = 0; i < L; i++) {
    const p = `transformer.h.${i}.`;
    add(p + 'ln_1.weight', E, ln);
    add(p + 'attn.c_attn.weight', E * 3 * E, g);
    add(p + 'attn.c_attn.bias', 3 * E, g);
    add(p + 'attn.c_proj.weight', E * E, g);
    add(p + 'attn.c_proj.bias', E, g);
    add(p + 'ln_2.weight', E, ln);
    add(p + 'mlp.c_fc.weight', E * I, g);
    add(p + 'mlp.c_fc.bias', I, g);
    add(p + 'mlp.c_proj.weight', I * E, g);
    add(p + 'mlp.c_proj.bias', E, g);
  }
  add('transformer.ln_f.weight', E, ln);
  add('lm_head.weight', (V - 1) * E, g);
  return m;
}
