// The model in a module worker: the page stays responsive while it generates.
import { ImageGPT, ImageGPTImageProcessor } from 'imagegpt-webgpu';

let model;
let processor;
let controller;

self.onmessage = async ({ data: message }) => {
  try {
    if (message.type === 'load') {
      model = await ImageGPT.fromPretrained(message.base, { onProgress: (p) => postMessage({ type: 'progress', ...p }) });
      processor = await ImageGPTImageProcessor.fromPretrained(message.base);
      postMessage({ type: 'ready', size: processor.size });
    } else if (message.type === 'complete') {
      controller = new AbortController();
      const completions = await model.complete(message.image, {
        keepRows: message.keepRows,
        samples: message.samples,
        processor,
        seed: message.seed,
        signal: controller.signal,
        onRow: ({ row }) => postMessage({ type: 'row', row }),
      });
      postMessage({ type: 'done', images: completions.map(({ data, width, height }) => ({ data, width, height })) });
    } else if (message.type === 'stop') {
      controller?.abort();
    }
  } catch (error) {
    postMessage({ type: 'error', message: error.name === 'AbortError' ? 'stopped' : error.message });
  }
};
