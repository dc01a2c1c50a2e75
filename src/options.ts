// Option checks shared by the model and the loader: one place, so both refuse a misspelt key alike.
import { describeValue } from './json';
import { ImageGPTError } from './errors';

/** Throws unless `opts` is undefined or a plain object whose keys are all in `known`. */
export function checkOptionKeys(what: string, opts: unknown, known: readonly string[]): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new ImageGPTError('E_BAD_INPUT', `${what}: options must be an object, got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts}`);
  }
  for (const key of Object.keys(opts)) {
    if (!known.includes(key)) throw new ImageGPTError('E_BAD_INPUT', `${what}: unknown option ${describeValue(key)}; known options: ${known.join(', ')}`);
  }
}
