// The Error a call that must fail rejects (or throws) with, for matching its message.

/** Runs `run`; returns what it threw or rejected with, and fails the test when it succeeds. */
export async function failure(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}
