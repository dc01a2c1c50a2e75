// The library's one error type: every error it throws carries a stable `code`, so callers (and the demo) switch on
// codes, never on message text. Messages stay free to improve; codes do not change meaning.

/**
 * What kind of problem an error is. Stable: a code keeps its meaning across versions; new codes may be added.
 * | code              | meaning                                                                                   |
 * |-------------------|-------------------------------------------------------------------------------------------|
 * | `E_BAD_INPUT`     | an argument or option is wrong: type, range, shape, token id, unknown option key           |
 * | `E_BAD_FILE`      | a file is damaged or not what it claims: bad JSON, zip, pickle, safetensors, tensor shape   |
 * | `E_NOT_FOUND`     | a file, tensor or model is missing (HTTP 404, a required tensor absent from a checkpoint)   |
 * | `E_NETWORK`       | a download failed: fetch rejected, an HTTP status other than 404, a cut-short body          |
 * | `E_UNSUPPORTED`   | valid input the library does not handle: a dtype, layout or config option; no WebGPU        |
 * | `E_DEVICE_LIMIT`  | the work does not fit the GPU's limits or memory (or the host's)                            |
 * | `E_DEVICE_LOST`   | the GPU device was lost; the model is unusable (load it again)                              |
 * | `E_ABORTED`       | the caller's AbortSignal stopped the work (the error's name is also 'AbortError')           |
 * | `E_DISPOSED`      | the model, session or processor was used after dispose()                                   |
 * | `E_BUSY`          | a call came while another on the same object was still running, where that is not allowed  |
 * | `E_MISMATCH`      | two things given together disagree: a processor and a model, a probe and a model           |
 * | `E_INTERNAL`      | a bug in the library: a shader or pipeline failed to compile or validate                   |
 */
export type ErrorCode =
  | 'E_BAD_INPUT'
  | 'E_BAD_FILE'
  | 'E_NOT_FOUND'
  | 'E_NETWORK'
  | 'E_UNSUPPORTED'
  | 'E_DEVICE_LIMIT'
  | 'E_DEVICE_LOST'
  | 'E_ABORTED'
  | 'E_DISPOSED'
  | 'E_BUSY'
  | 'E_MISMATCH'
  | 'E_INTERNAL';

/** Every code, in the order of the table above (tests and docs read it). */
export const ERROR_CODES: readonly ErrorCode[] = [
  'E_BAD_INPUT',
  'E_BAD_FILE',
  'E_NOT_FOUND',
  'E_NETWORK',
  'E_UNSUPPORTED',
  'E_DEVICE_LIMIT',
  'E_DEVICE_LOST',
  'E_ABORTED',
  'E_DISPOSED',
  'E_BUSY',
  'E_MISMATCH',
  'E_INTERNAL',
];

/** An error from imagegpt-webgpu: `code` says what kind, `message` says which input and what was expected. */
export class ImageGPTError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageGPTError';
    this.code = code;
  }
}

/** Shorthand for the commonest throw: `throw badInput('generate: …')`. */
export function badInput(message: string, options?: { cause?: unknown }): ImageGPTError {
  return new ImageGPTError('E_BAD_INPUT', message, options);
}

/** Shorthand for a damaged or mislabelled file: `throw badFile('model.safetensors: …')`. */
export function badFile(message: string, options?: { cause?: unknown }): ImageGPTError {
  return new ImageGPTError('E_BAD_FILE', message, options);
}

/**
 * The caller's AbortSignal stopped the work: code E_ABORTED and name 'AbortError' (the name fetch's own aborts carry),
 * so callers may test either.
 */
export function abortedError(message: string, options?: { cause?: unknown }): ImageGPTError {
  const e = new ImageGPTError('E_ABORTED', message, options);
  e.name = 'AbortError';
  return e;
}

/** The code of any thrown value: an ImageGPTError's own, else undefined (a foreign error, e.g. from caller code). */
export function errorCode(e: unknown): ErrorCode | undefined {
  if (e instanceof ImageGPTError) return e.code;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : undefined;
}
