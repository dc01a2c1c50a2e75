// The model worker: loads ImageGPT and its processor, encodes images, generates and extracts features,
// so the page stays responsive. Talks to the page only through the messages of protocol.ts.
import { ImageGPT, ImageGPTImageProcessor, LinearProbe, errorCode, isCpuAdapter, sosToken } from '../../src/index';
import { clearModelCache, versionedCache } from './model-cache';
import { StyleTuning, type ModelOrigin } from './style-tuning';
import { trainClassifier } from './classifier-tuning';
import { NETWORK_ERROR, type AttentionResults, type FeatureResults, type LikelihoodResults, type ModelInfo, type ModelSource, type Pixels, type Progress, type Reply, type Request, type Results } from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;
/** Emoji were composited onto white for training; uploads with transparency get the same. */
const WHITE = [255, 255, 255] as const;
/** Images per GPU batch in the Features view: keeps progress moving. */
const FEATURE_BATCH = 8;
/** Probe settings for the gallery's tiny leave-one-out problems (≈40 images): a firmer L2 than the default. */
const PROBE_L2 = 1e-2;
const PROBE_MAX_ITER = 200;

let model: ImageGPT | null = null;
let processor: ImageGPTImageProcessor | null = null;
/** Where the loaded model's files came from: the style's f32 copy is made from them. */
let origin: ModelOrigin | null = null;
/** "Teach it a style": the tuned f32 copy of the loaded model, once made. */
const style = new StyleTuning();
let busy = false;
const running = new Map<number, AbortController>();

function post(reply: Reply, transfer: Transferable[] = []): void {
  scope.postMessage(reply, transfer);
}

function progress(id: number, p: Progress, transfer: Transferable[] = []): void {
  post({ type: 'progress', id, progress: p }, transfer);
}

function loaded(): { model: ImageGPT; processor: ImageGPTImageProcessor } {
  if (!model || !processor) throw new Error('no model is loaded yet');
  return { model, processor };
}

/** Load progress reaches the page at most this often (the library reports every chunk). */
const PROGRESS_INTERVAL_MS = 50;
type LoadEvent = Extract<Progress, { phase: 'download' | 'cached' | 'upload' }>;

async function load(id: number, source: ModelSource): Promise<ModelInfo> {
  const controller = new AbortController();
  running.set(id, controller);
  // Told apart from a server's answer: fetch itself rejecting means the host could not be reached.
  let unreachable: unknown = null;
  const watchedFetch: typeof fetch = async (input, init) => {
    try {
      return await fetch(input, init);
    } catch (e) {
      if (!controller.signal.aborted) unreachable = e;
      throw e;
    }
  };
  const phases = new Set<Progress['phase']>();
  let last = { phase: '', file: '', at: 0 };
  // A throttled event is sent when the interval ends, so the page never keeps an older count than the library's last.
  let held: LoadEvent | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const send = (p: LoadEvent): void => {
    last = { phase: p.phase, file: p.file, at: performance.now() };
    progress(id, { phase: p.phase, file: p.file, loaded: p.loaded, total: p.total, overall: { ...p.overall } });
  };
  const onProgress = (p: LoadEvent): void => {
    phases.add(p.phase);
    const finished = p.total !== undefined && p.total > 0 && p.loaded >= p.total;
    if (p.phase === last.phase && p.file === last.file && !finished && performance.now() - last.at < PROGRESS_INTERVAL_MS) {
      held = p;
      timer ??= setTimeout(() => {
        timer = undefined;
        if (held) send(held);
        held = null;
      }, PROGRESS_INTERVAL_MS);
      return;
    }
    held = null;
    send(p);
  };
  const files = { fetch: watchedFetch, signal: controller.signal };
  const from =
    source.kind === 'url'
      ? { source: source.base, options: { ...files, cache: versionedCache(source.version) } }
      : source.kind === 'hub'
        ? { source: source.id, options: { ...files, ...(source.host ? { host: source.host } : {}) } }
        : { source: source.files, options: files };
  let next: ImageGPT;
  let nextProcessor: ImageGPTImageProcessor;
  try {
    // The processor first: one small file, and the hub's answer to it says whether the repo is there.
    nextProcessor = await ImageGPTImageProcessor.fromPretrained(from.source, from.options);
    next = await ImageGPT.fromPretrained(from.source, { ...from.options, dtype: 'f16', onProgress });
  } catch (e) {
    if (unreachable !== null && !controller.signal.aborted) {
      // The library's message already names the host and the file; the name tells the page what kind of failure it is.
      const error = new Error(e instanceof Error ? e.message : String(e));
      error.name = NETWORK_ERROR;
      throw error;
    }
    throw e;
  } finally {
    running.delete(id);
    clearTimeout(timer);
  }
  const { width, height } = nextProcessor.size;
  const positions = next.config.n_positions;
  if (width * height !== positions) {
    next.dispose();
    next.device.destroy();
    throw new Error(`the processor makes ${width}×${height} = ${width * height} tokens per image, the model expects n_positions = ${positions}`);
  }
  if (nextProcessor.numClusters !== next.config.vocab_size - 1) {
    next.dispose();
    next.device.destroy();
    throw new Error(`the processor has ${nextProcessor.numClusters} colors, the model ${next.config.vocab_size - 1} image tokens`);
  }
  // The tuned copy was of the old model.
  style.reset();
  if (model) {
    const old = model;
    model = null;
    old.dispose();
    old.device.destroy(); // fromPretrained made this device for the model alone
  }
  model = next;
  processor = nextProcessor;
  origin = {
    source: from.source,
    options: source.kind === 'url' ? { cache: versionedCache(source.version) } : source.kind === 'hub' && source.host ? { host: source.host } : {},
  };
  const c = next.config;
  const info = next.device.adapterInfo;
  return {
    name: modelName(source),
    imageSize: width,
    nLayer: c.n_layer,
    nEmbd: c.n_embd,
    nHead: c.n_head,
    params: countParams(c.n_embd, c.n_layer, c.n_positions, c.vocab_size, c.n_inner),
    adapter: [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' · ') || 'WebGPU adapter',
    // No adapter info (older browsers): the library's kernels assume a CPU then (tuningFor), and so do the defaults.
    onCpu: info === undefined || isCpuAdapter(info),
    // Local files also report 'cached' (read from disk): only a URL or hub load can come from the cache.
    fromCache: source.kind !== 'files' && phases.has('cached') && !phases.has('download'),
  };
}

/** The shipped folder's last path segment, the hub id, or the top folder of the picked files. */
function modelName(source: ModelSource): string {
  if (source.kind === 'hub') return source.id;
  if (source.kind === 'url') return source.base.split('/').filter(Boolean).pop() ?? source.base;
  const top = source.files.map((f) => f.webkitRelativePath.split('/')[0]).find(Boolean);
  return top ?? 'local files';
}

function countParams(E: number, L: number, P: number, V: number, inner: number): number {
  const block = 2 * E + E * 3 * E + 3 * E + E * E + E + E * inner + inner + inner * E + E;
  return V * E + P * E + L * block + E + (V - 1) * E;
}

function encode(image: Pixels): Results['encode'] {
  const { processor: p } = loaded();
  const tokens = Int32Array.from(p.encode(image, { background: WHITE }).inputIds[0]);
  return { tokens, quantized: p.decode(tokens) };
}

/** Paints decoded token rows into RGBA images (rows not yet made stay transparent). */
function paintRows(p: ImageGPTImageProcessor, target: Uint8ClampedArray, tokens: ArrayLike<number>, firstRow: number, width: number): void {
  if (tokens.length === 0) return;
  const rows = tokens.length / width;
  target.set(p.decode(tokens, { height: rows, width }).data, firstRow * width * 4);
}

/** What a generation run reports through: its signal, a row-progress message, and the count of tokens made. */
interface RunContext {
  signal: AbortSignal;
  /** Counts `n` more tokens made (for tokens/s). */
  made(n: number): void;
  /** Sends the images as they are now, with image row `row` just finished. */
  row(row: number): void;
}

/**
 * The bookkeeping every generation shares: an AbortController the page's Stop reaches, tokens/s, snapshots of the
 * images for progress, and a Stop (AbortError) turned into `stopped` with the images as far as they got.
 */
async function trackRun(
  id: number,
  images: Uint8ClampedArray[],
  run: (ctx: RunContext) => Promise<Int32Array>,
): Promise<Results['generate']> {
  const { width, height } = loaded().processor.size;
  const controller = new AbortController();
  running.set(id, controller);
  const started = performance.now();
  let made = 0;
  const rate = () => made / Math.max((performance.now() - started) / 1000, 1e-3);
  const snapshot = (): Pixels[] => images.map((data) => ({ data: data.slice(), width, height }));
  let stopped = false;
  let tokens: Int32Array = new Int32Array(0);
  try {
    tokens = await run({
      signal: controller.signal,
      made: (n) => {
        made += n;
      },
      row: (row) => {
        const shots = snapshot();
        progress(id, { phase: 'row', row, rows: height, images: shots, tokensPerSecond: rate() }, shots.map((s) => s.data.buffer));
      },
    });
  } catch (e) {
    if (!(e instanceof Error && e.name === 'AbortError')) throw e;
    stopped = true;
  } finally {
    running.delete(id);
  }
  return { images: snapshot(), tokens, tokensPerSecond: rate(), stopped };
}

async function generate(id: number, r: Extract<Request, { type: 'generate' }>): Promise<Results['generate']> {
  const { model: loadedModel, processor: p } = loaded();
  const m = r.tuned ? style.model() : loadedModel;
  const { width, height } = p.size;
  if (!Number.isInteger(r.keepRows) || r.keepRows < 0 || r.keepRows > height - 1) {
    throw new Error(`keepRows must be an integer in 0..${height - 1} (at least one row left to complete), got ${r.keepRows}`);
  }
  if (!Number.isInteger(r.samples) || r.samples < 1 || r.samples > 8) throw new Error(`samples must be 1..8, got ${r.samples}`);
  if (r.tokens && r.tokens.length !== width * height) {
    throw new Error(`the image has ${r.tokens.length} tokens, the model expects ${width}×${height}`);
  }
  const images = Array.from({ length: r.samples }, () => new Uint8ClampedArray(width * height * 4));
  const sampling = { temperature: r.sampling.temperature, topK: r.sampling.topK, seed: r.sampling.seed };
  if (!r.tokens) {
    // Nothing to keep: unconditional samples, every image row of every sample painted as it comes.
    return trackRun(id, images, (run) =>
      m.generate({
        batchSize: r.samples,
        width,
        ...sampling,
        signal: run.signal,
        onRow: ({ row, tokens }) => {
          images.forEach((image, b) => paintRows(p, image, tokens.subarray(b * width, (b + 1) * width), row, width));
          run.made(tokens.length);
          run.row(row);
        },
      }),
    );
  }
  const all = r.tokens;
  // With varyKeptRows sample i keeps max(0, keepRows − i) rows, so the last sample keeps the fewest.
  const keepRows = images.map((_, i) => (r.varyKeptRows ? Math.max(0, r.keepRows - i) : r.keepRows));
  images.forEach((image, i) => paintRows(p, image, all.subarray(0, keepRows[i] * width), 0, width));
  const last = images.length - 1;
  return trackRun(id, images, async (run) => {
    const completions = await m.complete(all, {
      processor: p,
      keepRows,
      width,
      ...sampling,
      signal: run.signal,
      onRow: ({ sample, row, pixels }) => {
        images[sample].set(pixels, row * width * 4);
        run.made(width);
        // The samples' calls for one image row come together, the last sample's last (it generates every row).
        if (sample === last) run.row(row);
      },
    });
    const tokens = new Int32Array(images.length * width * height);
    completions.forEach((c, i) => {
      tokens.set(c.tokens, i * width * height);
      images[i].set(c.data);
    });
    return tokens;
  });
}

/** "Teach it a style": fine-tunes the f32 copy (made on first use); Stop ends it between steps. */
async function styleTrain(id: number, r: Extract<Request, { type: 'style-train' }>): Promise<Results['style-train']> {
  const { model: m, processor: p } = loaded();
  if (!origin) throw new Error('the loaded model has no known files to copy');
  const controller = new AbortController();
  running.set(id, controller);
  try {
    return await style.train({ model: m, processor: p, origin }, r.images, r.settings, controller.signal, (pr) => progress(id, pr));
  } finally {
    running.delete(id);
  }
}

/** Own classes, fine-tuned: a classifier of the loaded model trained and scored on the page's split. */
async function classifierTrain(id: number, r: Extract<Request, { type: 'classifier-train' }>): Promise<Results['classifier-train']> {
  const controller = new AbortController();
  running.set(id, controller);
  try {
    return await trainClassifier(loaded(), r, controller.signal, (pr) => progress(id, pr));
  } finally {
    running.delete(id);
  }
}

/** Model-resolution RGB in [0, 1]: the raw-pixel baseline's features. */
function pixelFeatures(p: ImageGPTImageProcessor, images: Pixels[]): Float32Array {
  const { width, height } = p.size;
  const F = width * height * 3;
  const out = new Float32Array(images.length * F);
  images.forEach((image, i) => {
    const rgb = p.resize(image, p.size, { background: WHITE }).data;
    for (let k = 0; k < F; k++) out[i * F + k] = rgb[k] / 255;
  });
  return out;
}

/** Leave-one-out: each image's class predicted by a probe fit on all the others. */
function leaveOneOut(features: Float32Array, labels: number[], numClasses: number, onFit: () => void): Int32Array {
  const N = labels.length;
  const F = features.length / N;
  const classes = Array.from({ length: numClasses }, (_, c) => String(c));
  const predictions = new Int32Array(N);
  const train = new Float32Array((N - 1) * F);
  const trainLabels = new Int32Array(N - 1);
  for (let i = 0; i < N; i++) {
    train.set(features.subarray(0, i * F), 0);
    train.set(features.subarray((i + 1) * F), i * F);
    trainLabels.set(labels.slice(0, i), 0);
    trainLabels.set(labels.slice(i + 1), i);
    const probe = new LinearProbe({ l2: PROBE_L2, classes });
    probe.fit(train, trainLabels, { maxIter: PROBE_MAX_ITER, numFeatures: F });
    predictions[i] = probe.predict(features.subarray(i * F, (i + 1) * F))[0];
    onFit();
  }
  return predictions;
}

function accuracyOf(predictions: Int32Array, labels: number[]): number {
  let right = 0;
  predictions.forEach((c, i) => {
    if (c === labels[i]) right++;
  });
  return right / labels.length;
}

async function features(id: number, r: Extract<Request, { type: 'features' }>): Promise<FeatureResults> {
  const { model: m, processor: p } = loaded();
  const N = r.images.length;
  if (N < 3) throw new Error(`features: need at least 3 images for leave-one-out probes, got ${N}`);
  if (r.labels.length !== N) throw new Error(`features: ${r.labels.length} labels for ${N} images`);
  const ids = p.encode(r.images, { background: WHITE }).inputIds;
  const L = m.config.n_layer;
  // Every layer pooled on the GPU in one pass per batch; only the pooled vectors are read back.
  const all = Array.from({ length: L + 1 }, (_, l) => l);
  const pooled = await m.features(ids, {
    layers: all,
    batchSize: FEATURE_BATCH,
    onProgress: ({ done, total }) => progress(id, { phase: 'features', done, total }),
  });
  const layers = all.map((l) => pooled.get(l)!);
  const fits = (L + 2) * N;
  let done = 0;
  const onFit = () => {
    done++;
    if (done % 8 === 0 || done === fits) progress(id, { phase: 'probe', done, total: fits });
  };
  const predictions = layers.map((f) => leaveOneOut(f, r.labels, r.numClasses, onFit));
  const pixelPredictions = leaveOneOut(pixelFeatures(p, r.images), r.labels, r.numClasses, onFit);
  const counts = new Array<number>(r.numClasses).fill(0);
  for (const l of r.labels) counts[l]++;
  return {
    layers,
    predictions,
    accuracy: predictions.map((pr) => accuracyOf(pr, r.labels)),
    pixelAccuracy: accuracyOf(pixelPredictions, r.labels),
    majorityRate: Math.max(...counts) / N,
  };
}

/** One hidden state's pooled features of the page's own images (the Features view's own classes). */
async function imageFeatures(id: number, r: Extract<Request, { type: 'image-features' }>): Promise<Results['image-features']> {
  const { model: m, processor: p } = loaded();
  const L = m.config.n_layer;
  if (r.images.length === 0) throw new Error('image-features: no images were given');
  if (!Number.isInteger(r.layer) || r.layer < 0 || r.layer > L) throw new Error(`image-features: layer must be an integer in 0..${L}, got ${r.layer}`);
  const ids = p.encode(r.images, { background: WHITE }).inputIds;
  const pooled = await m.features(ids, {
    layers: [r.layer],
    batchSize: FEATURE_BATCH,
    onProgress: ({ done, total }) => progress(id, { phase: 'features', done, total }),
  });
  return { features: pooled.get(r.layer)!, numFeatures: m.config.n_embd, layer: r.layer };
}

/**
 * Images per GPU batch when scoring: bitsPerToken reports after each batch, so 9 images (the prompt and 8 samples)
 * move in 5 steps. Measured on emoji-32 (1024 tokens) under SwiftShader, batches of 2 took as long as one batch of
 * 8 (~63 s both), with identical scores.
 */
const LIKELIHOOD_BATCH = 2;

async function likelihood(id: number, r: Extract<Request, { type: 'likelihood' }>): Promise<LikelihoodResults> {
  const { model: m, processor: p } = loaded();
  const { width, height } = p.size;
  if (r.images.length === 0) throw new Error('likelihood: no images were given');
  r.images.forEach((tokens, i) => {
    if (tokens.length !== width * height) throw new Error(`likelihood: image ${i} has ${tokens.length} tokens, the model expects ${width}×${height}`);
  });
  const out = await m.bitsPerToken(r.images.map((t) => Array.from(t)), {
    width,
    batchSize: LIKELIHOOD_BATCH,
    onProgress: ({ done, total }) => progress(id, { phase: 'likelihood', done, total }),
  });
  return { bitsPerToken: out.bitsPerToken, surprise: out.surprise, width: out.width, height: out.height };
}

/**
 * The attention of the query that predicts pixel `pixel`. As in training (and bitsPerToken) the model is fed
 * SOS + the image's tokens, so that query sits at position `pixel` and its keys are SOS and pixels 0..pixel-1.
 */
async function attention(r: Extract<Request, { type: 'attention' }>): Promise<AttentionResults> {
  const { model: m, processor: p } = loaded();
  const { width, height } = p.size;
  const count = width * height;
  if (r.tokens.length !== count) throw new Error(`attention: the image has ${r.tokens.length} tokens, the model expects ${width}×${height}`);
  if (!Number.isInteger(r.pixel) || r.pixel < 0 || r.pixel >= count) throw new Error(`attention: pixel must be an integer in 0..${count - 1}, got ${r.pixel}`);
  // Only positions 0..pixel are run; the last pixel is never an input.
  const ids = [sosToken(m.config), ...Array.from(r.tokens.subarray(0, r.pixel))];
  const weights = await m.attentionRow(ids, r.pixel);
  return { weights, nLayer: m.config.n_layer, nHead: m.config.n_head, pixel: r.pixel };
}

function transferables(result: Results[keyof Results]): Transferable[] {
  if (!result || typeof result !== 'object') return [];
  if ('quantized' in result) return [result.tokens.buffer, result.quantized.data.buffer];
  if ('images' in result) return [...result.images.map((i) => i.data.buffer), result.tokens.buffer];
  if ('surprise' in result) return [result.bitsPerToken.buffer, result.surprise.buffer];
  if ('weights' in result) return [result.weights.buffer];
  if ('layers' in result) return [...result.layers, ...result.predictions].map((a) => a.buffer);
  if ('numFeatures' in result) return [result.features.buffer];
  return [];
}

async function handle(r: Request): Promise<Results[keyof Results]> {
  switch (r.type) {
    case 'stop':
      running.get(r.target)?.abort();
      return null;
    case 'encode':
      return encode(r.image);
    case 'clear-cache':
      return { deleted: await clearModelCache() };
    case 'load':
    case 'generate':
    case 'features':
    case 'likelihood':
    case 'attention':
    case 'image-features':
    case 'style-train':
    case 'style-reset':
    case 'classifier-train': {
      // One GPU job at a time: the page disables its buttons, this guards the rest.
      if (busy) throw new Error(`the model is busy; ${r.type} was not started`);
      busy = true;
      try {
        if (r.type === 'load') return await load(r.id, r.source);
        if (r.type === 'generate') return await generate(r.id, r);
        if (r.type === 'likelihood') return await likelihood(r.id, r);
        if (r.type === 'attention') return await attention(r);
        if (r.type === 'image-features') return await imageFeatures(r.id, r);
        if (r.type === 'style-train') return await styleTrain(r.id, r);
        if (r.type === 'classifier-train') return await classifierTrain(r.id, r);
        if (r.type === 'style-reset') {
          style.reset();
          return null;
        }
        return await features(r.id, r);
      } finally {
        busy = false;
      }
    }
  }
}

scope.onmessage = async (event: MessageEvent<Request>) => {
  const r = event.data;
  // A stop answers with its own id; the generation it stops answers with 'done' (stopped: true).
  try {
    const result = await handle(r);
    post({ type: 'done', id: r.id, result }, transferables(result));
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    post({ type: 'error', id: r.id, message: error.message, name: error.name, code: errorCode(e) });
  }
};
