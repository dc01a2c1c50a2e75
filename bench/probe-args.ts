// `npm run probe`'s command line: its flags, their defaults and the checks on their values.
import type { WeightDType } from '../src/index';

/** Training images used when --train-limit is not given (a stratified, seeded subsample). */
export const DEFAULT_TRAIN_LIMIT = 500;

export interface ProbeArgs {
  model: string;
  data: string | null;
  trainLimit: number | null;
  seed: number;
  batchSize: number;
  dtype: WeightDType;
  out: string;
  md: string;
  report: string | null;
  featuresCache: string | null;
  features: FeatureKind;
}

/** Which pooled features are probed: raw hidden states, layer-normed ones (normalize: true), or both. */
export type FeatureKind = 'raw' | 'normed' | 'both';

export function parseArgs(args: string[]): ProbeArgs {
  const parsed: ProbeArgs = {
    model: 'models/emoji-16',
    data: null,
    trainLimit: DEFAULT_TRAIN_LIMIT,
    seed: 1,
    batchSize: 64,
    dtype: 'f16',
    out: 'bench/probe.json',
    md: 'bench/PROBE.md',
    report: null,
    featuresCache: null,
    features: 'both',
  };
  const positiveInteger = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} is ${JSON.stringify(v)}: expected a positive integer`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    const needValue = (): string => {
      if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value`);
      i++;
      return value;
    };
    switch (flag) {
      case '--model':
        parsed.model = needValue().replace(/\/+$/, '');
        break;
      case '--data':
        parsed.data = needValue().replace(/\/+$/, '');
        break;
      case '--train-limit': {
        const v = needValue();
        parsed.trainLimit = v === 'all' ? null : positiveInteger(flag, v);
        break;
      }
      case '--seed': {
        const v = needValue();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new Error(`--seed is ${JSON.stringify(v)}: expected an integer ≥ 0`);
        parsed.seed = n;
        break;
      }
      case '--batch-size':
        parsed.batchSize = positiveInteger(flag, needValue());
        break;
      case '--dtype': {
        const v = needValue();
        if (v !== 'f16' && v !== 'f32') throw new Error(`--dtype is ${JSON.stringify(v)}: expected f16 or f32`);
        parsed.dtype = v;
        break;
      }
      case '--out':
        parsed.out = needValue();
        break;
      case '--md':
        parsed.md = needValue();
        break;
      case '--report':
        parsed.report = needValue();
        break;
      case '--features-cache':
        parsed.featuresCache = needValue();
        break;
      case '--features': {
        const v = needValue();
        if (v !== 'raw' && v !== 'normed' && v !== 'both') throw new Error(`--features is ${JSON.stringify(v)}: expected raw, normed or both`);
        parsed.features = v;
        break;
      }
      default:
        throw new Error(
          `unknown argument ${JSON.stringify(flag)}; expected --model, --data, --train-limit, --seed, --batch-size, --dtype, --out, --md, --report, --features-cache, --features`,
        );
    }
  }
  return parsed;
}
