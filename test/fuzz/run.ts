// `npm run fuzz -- [--seed S] [--n N] [--target NAME[,NAME…]] [--index I] [--max-failures K]`
// Fuzzes the parsers of untrusted input (safetensors, config, processor-config, torch) and the public API's
// options on the tiny fixture model (api, on the GPU). Prints each failure (seed, index, an excerpt of the
// input) and exits non-zero if there was any. `--index I` reruns one input of a run.
import { formatFailure, runTarget, type FuzzReport, type FuzzTarget } from './harness';
import { PARSER_TARGETS } from './parsers';

/** Inputs per target when --n is not given (a run of about a minute here). */
const DEFAULT_N: Record<string, number> = { safetensors: 3000, config: 3000, 'processor-config': 1500, torch: 1500, api: 60 };

async function targets(): Promise<FuzzTarget<unknown>[]> {
  const { apiTarget } = await import('./api');
  return [...PARSER_TARGETS, apiTarget] as unknown as FuzzTarget<unknown>[];
}

interface Args {
  seed: number;
  n: number | undefined;
  names: string[] | undefined;
  index: number | undefined;
  maxFailures: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seed: 1, n: undefined, names: undefined, index: undefined, maxFailures: 20 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const int = (min: number) => {
      const v = Number(value);
      if (value === undefined || !Number.isInteger(v) || v < min) throw new Error(`${flag} needs an integer ≥ ${min}, got ${value ?? 'nothing'}`);
      i++;
      return v;
    };
    if (flag === '--seed') args.seed = int(0);
    else if (flag === '--n') args.n = int(1);
    else if (flag === '--index') args.index = int(0);
    else if (flag === '--max-failures') args.maxFailures = int(1);
    else if (flag === '--target') {
      if (!value) throw new Error('--target needs a name (or names separated by commas)');
      args.names = value.split(',');
      i++;
    } else throw new Error(`unknown argument ${flag}; usage: npm run fuzz -- [--seed S] [--n N] [--target NAME[,NAME…]] [--index I] [--max-failures K]`);
  }
  return args;
}

export function summary(r: FuzzReport): string {
  return (
    `${r.target}: ${r.inputs} inputs (${r.refused} refused, ${r.accepted} accepted), ${r.failures.length} failures, ` +
    `${(r.ms / 1000).toFixed(1)} s, slowest input ${r.slowestMs.toFixed(0)} ms, longest message ${r.longestMessage} characters`
  );
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const all = await targets();
  const names = args.names ?? all.map((t) => t.name);
  const unknown = names.filter((n) => !all.some((t) => t.name === n));
  if (unknown.length > 0) throw new Error(`unknown target ${unknown.join(', ')}; targets: ${all.map((t) => t.name).join(', ')}`);
  let failures = 0;
  const start = performance.now();
  for (const name of names) {
    const target = all.find((t) => t.name === name)!;
    const n = args.n ?? DEFAULT_N[name] ?? 1000;
    console.log(`${name}: seed ${args.seed}, ${args.index !== undefined ? `input ${args.index}` : `${n} inputs`}…`);
    const report = await runTarget(target, {
      seed: args.seed,
      n,
      index: args.index,
      maxFailures: args.maxFailures,
      onProgress: (done) => console.log(`  ${done} / ${n}`),
    });
    for (const f of report.failures) console.log(formatFailure(f));
    console.log(summary(report));
    failures += report.failures.length;
  }
  console.log(`fuzz: ${failures} failures in ${((performance.now() - start) / 1000).toFixed(1)} s (seed ${args.seed})`);
  return failures === 0 ? 0 : 1;
}
