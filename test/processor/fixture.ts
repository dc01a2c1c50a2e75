// The committed Pillow / numpy fixture (weights-tools/make_processor_fixtures.py).
import { readFileSync } from 'node:fs';

export interface FixtureOutput {
  height: number;
  width: number;
  /** base64 of the Pillow-resized RGB bytes */
  rgb: string;
  tokens: number[];
  /** RGBA cases: base64 of PIL alpha_composite onto white, then resized */
  rgbOnWhite?: string;
  /** HF's tokens with do_normalize false: color_quantize of the uint8 pixels of `rgb` */
  tokensRaw: number[];
}

export interface FixtureCase {
  name: string;
  kind: string;
  width: number;
  height: number;
  channels: number;
  seed: number;
  outputs: FixtureOutput[];
}

export interface ProcessorFixture {
  clusters: number[][];
  cases: FixtureCase[];
  /** base64 of packed RGB colors quantized without resizing */
  colors: string;
  colorTokens: number[];
  /** `colors` quantized with do_normalize false */
  colorTokensRaw: number[];
  /** Cluster pairs mirrored through each color: float64 rounding alone decides the winner. */
  nearTies: { clusters: number[][]; colors: string; tokens: number[] };
}

export const fixture: ProcessorFixture = JSON.parse(
  readFileSync(new URL('../fixtures/processor/processor.json', import.meta.url), 'utf8'),
);

export function bytes(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

/** Pillow's other filters (processor-filters.json): per image and size, base64 RGB bytes by filter name. */
export interface FilterFixture {
  filters: Record<string, number>;
  cases: { name: string; outputs: { height: number; width: number; rgb: Record<string, string> }[] }[];
}

export const filterFixture: FilterFixture = JSON.parse(
  readFileSync(new URL('../fixtures/processor/processor-filters.json', import.meta.url), 'utf8'),
);
