// The seeded generator lives beside the benchmarks' helpers (scripts/random.ts): one copy for both.
export { seededRandom } from '../../scripts/random';
