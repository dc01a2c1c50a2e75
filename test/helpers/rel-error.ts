// The error measure lives in scripts/rel-error.ts, shared with the load benchmark.
export { relError } from '../../scripts/rel-error';
