// Issue 19 item 4: every library error carries a stable code. (a) No file under src/ makes a plain Error;
// (b) representative failures of each layer (files, downloads, parsers, processor, probe) carry the code the
// table in src/errors.ts gives their kind; (c) README's table lists exactly ERROR_CODES. No GPU here.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ImageGPTError, errorCode, type ErrorCode } from '../src/errors';
import { ImageGPTImageProcessor } from '../src/processor/index';
import { LinearProbe } from '../src/probe/index';
import { parseSafetensors, tensorToFloat32, writeSafetensors } from '../src/safetensors';
import { checkOptionKeys } from '../src/options';
import { ZipReader } from '../src/loading/zip';
import { memoryCursor } from '../src/loading/cursor';

const ROOT = resolve(__dirname, '..');

/** Every .ts file under src/, relative to the repository root. */
function sourceFiles(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [relative(ROOT, join(dir, e.name))] : [],
  );
}

/** What `work` threw (or rejected with); a failure when it did not throw. */
async function thrown(work: () => unknown): Promise<unknown> {
  try {
    await work();
  } catch (e) {
    return e;
  }
  throw new Error('expected it to throw');
}

/** Asserts a thrown ImageGPTError with this code whose message matches. */
async function expectCode(work: () => unknown, code: ErrorCode, message: RegExp): Promise<ImageGPTError> {
  const e = await thrown(work);
  expect(e).toBeInstanceOf(ImageGPTError);
  expect((e as ImageGPTError).message).toMatch(message);
  expect(errorCode(e)).toBe(code);
  return e as ImageGPTError;
}

const PREPROCESSOR = {
  clusters: [[-1, -1, -1], [1, 1, 1], [1, -1, -1], [-1, 1, -1]],
  size: { height: 2, width: 2 },
  do_resize: true,
  do_normalize: true,
  do_color_quantize: true,
};
const localFiles = (files: Record<string, string>) => new Map(Object.entries(files).map(([name, text]) => [name, new Blob([text])]));
/** A hub that answers every request with `answer` (no cache, so each call asks). */
const hub = (answer: () => Promise<Response>) => ({ fetch: (() => answer()) as typeof fetch, cache: false as const });

describe('(a) no plain Error under src/', () => {
  it('every error is an ImageGPTError: no `new Error(`, `new TypeError(` or `new RangeError(` in any source file', () => {
    const files = sourceFiles();
    expect(files).toContain('src/errors.ts');
    const plain = files.flatMap((file) =>
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .flatMap((line, i) => (/\bnew (?:Type|Range)?Error\(/.test(line) ? [`${file}:${i + 1}`] : [])),
    );
    expect(plain).toEqual([]);
  });
});

describe('(b) each layer gives its failures a code', () => {
  it('errorCode reads an ImageGPTError, a rebuilt error carrying a known code, and nothing else', () => {
    expect(errorCode(new ImageGPTError('E_BUSY', 'x'))).toBe('E_BUSY');
    expect(errorCode(Object.assign(new Error('x'), { code: 'E_NOT_FOUND' }))).toBe('E_NOT_FOUND');
    expect(errorCode(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBeUndefined();
    expect(errorCode(new Error('x'))).toBeUndefined();
    expect(errorCode(null)).toBeUndefined();
    expect(errorCode('E_BAD_INPUT')).toBeUndefined();
  });

  it('files: a config that is not JSON is E_BAD_FILE, a missing one E_NOT_FOUND, a bad field in it E_BAD_FILE', async () => {
    await expectCode(() => ImageGPTImageProcessor.fromPretrained(localFiles({ 'preprocessor_config.json': '{"clusters": [' })), 'E_BAD_FILE', /preprocessor_config\.json.*is not valid JSON/);
    await expectCode(() => ImageGPTImageProcessor.fromPretrained(localFiles({ 'config.json': '{}' })), 'E_NOT_FOUND', /preprocessor_config\.json was not found/);
    const badField = JSON.stringify({ ...PREPROCESSOR, do_resize: 'yes' });
    await expectCode(() => ImageGPTImageProcessor.fromPretrained(localFiles({ 'preprocessor_config.json': badField })), 'E_BAD_FILE', /"do_resize" must be true or false/);
    const noTokens = JSON.stringify({ ...PREPROCESSOR, do_color_quantize: false });
    await expectCode(() => ImageGPTImageProcessor.fromPretrained(localFiles({ 'preprocessor_config.json': noTokens })), 'E_UNSUPPORTED', /do_color_quantize false is not supported/);
    const good = await ImageGPTImageProcessor.fromPretrained(localFiles({ 'preprocessor_config.json': JSON.stringify(PREPROCESSOR) }));
    expect(good.numClusters).toBe(4);
  });

  it('downloads: a missing repository E_NOT_FOUND, a server error or a failed fetch E_NETWORK (cause kept), an abort E_ABORTED named AbortError', async () => {
    const missing = () => Promise.resolve(new Response('', { status: 404, headers: { 'x-error-code': 'RepoNotFound' } }));
    await expectCode(() => ImageGPTImageProcessor.fromPretrained('org/gone', hub(missing)), 'E_NOT_FOUND', /repository 'org\/gone' was not found/);
    const fileMissing = () => Promise.resolve(new Response('', { status: 404 }));
    await expectCode(() => ImageGPTImageProcessor.fromPretrained('org/m', hub(fileMissing)), 'E_NOT_FOUND', /preprocessor_config\.json was not found/);
    const serverError = () => Promise.resolve(new Response('', { status: 503, statusText: 'Service Unavailable' }));
    await expectCode(() => ImageGPTImageProcessor.fromPretrained('org/m', hub(serverError)), 'E_NETWORK', /HTTP 503/);
    const offline = new TypeError('fetch failed');
    const unreachable = await expectCode(() => ImageGPTImageProcessor.fromPretrained('org/m', hub(() => Promise.reject(offline))), 'E_NETWORK', /could not reach/);
    expect(unreachable.cause).toBe(offline);
    const controller = new AbortController();
    controller.abort();
    const aborted = await expectCode(
      () => ImageGPTImageProcessor.fromPretrained('org/m', { ...hub(serverError), signal: controller.signal }),
      'E_ABORTED',
      /aborted/,
    );
    expect(aborted.name).toBe('AbortError');
  });

  it('parsers: a truncated safetensors, a file that is not a zip: E_BAD_FILE; a dtype not read as float: E_UNSUPPORTED', async () => {
    const file = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) }]);
    expect(tensorToFloat32(parseSafetensors(file).tensors.get('w')!)).toEqual(new Float32Array([1, 2, 3, 4]));
    await expectCode(() => parseSafetensors(file.subarray(0, file.length - 3)), 'E_BAD_FILE', /truncated file/);
    await expectCode(() => ZipReader.open(memoryCursor('pytorch_model.bin', new Uint8Array([1, 2, 3, 4, 5]))), 'E_BAD_FILE', /pytorch_model\.bin: not a zip archive/);
    const ints = parseSafetensors(writeSafetensors([{ name: 'n', dtype: 'I8', shape: [2], data: new Int8Array([1, 2]) }])).tensors.get('n')!;
    await expectCode(() => tensorToFloat32(ints), 'E_UNSUPPORTED', /dtype I8 cannot be read as float32/);
    await expectCode(() => writeSafetensors([{ name: 'w', dtype: 'F32', shape: [3], data: new Float32Array(2) }]), 'E_BAD_INPUT', /needs 12/);
  });

  it('arguments: an unknown option key, an out-of-range token for the processor: E_BAD_INPUT', async () => {
    await expectCode(() => checkOptionKeys('generate', { temprature: 1 }, ['temperature']), 'E_BAD_INPUT', /unknown option "temprature"/);
    const processor = ImageGPTImageProcessor.fromConfig(PREPROCESSOR);
    await expectCode(() => processor.decode([0, 1, 2, 9]), 'E_BAD_INPUT', /token 9 at index 3 is outside the cluster range 0\.\.3/);
    await expectCode(() => new ImageGPTImageProcessor({ clusters: PREPROCESSOR.clusters, sizes: 2 } as never), 'E_BAD_INPUT', /unknown option "sizes"/);
  });

  it('probe: a damaged probe file E_BAD_FILE, features of another width E_MISMATCH, predict before fit E_BAD_INPUT', async () => {
    await expectCode(() => LinearProbe.fromJSON({} as never), 'E_BAD_FILE', /LinearProbe\.fromJSON: format/);
    await expectCode(() => new LinearProbe().predict(new Float32Array(4)), 'E_BAD_INPUT', /not fitted/);
    const probe = new LinearProbe();
    probe.fit([new Float32Array([0, 1]), new Float32Array([1, 0]), new Float32Array([0, 2]), new Float32Array([2, 0])], [0, 1, 0, 1]);
    await expectCode(() => probe.predict(new Float32Array(3)), 'E_MISMATCH', /not a whole number of rows of 2 features/);
  });
});

describe('(c) README documents the codes', () => {
  it("README's Errors table lists exactly ERROR_CODES, in order", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Errors'), readme.indexOf('\n### ', readme.indexOf('### Errors') + 1));
    expect(section.length).toBeGreaterThan(0);
    const listed = [...section.matchAll(/^\| `(E_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(listed).toEqual([...ERROR_CODES]);
  });
});
