// The Error a call that must fail rejects (or throws) with, for matching its message.
import { errorCode } from '../../src/errors';

/** Runs `run`; returns what it threw or rejected with, and fails the test when it succeeds. */
export async function failure(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}

/** The code of what `call` throws or rejects with (a sync throw counts), or 'no error' when it succeeds. */
export async function codeOf(call: () => unknown): Promise<string | undefined> {
  try {
    await call();
  } catch (e) {
    return errorCode(e);
  }
  return 'no error';
}
