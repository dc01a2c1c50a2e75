// Errors in plain words: what went wrong, for which input, and what to do. The kind of problem comes from the
// library's stable error code (ImageGPTError.code, carried across the worker by client.ts); the message is read
// only for *which* file, field or tensor it names, and is kept as a detail for those who want it. No DOM here
// (tested in test/demo/).
import { errorCode, type ErrorCode } from '../../src/index';

export interface PlainError {
  /** One short sentence: what failed. */
  title: string;
  /** What to do about it (and, where known, which file or field). */
  advice: string;
  /** The original message, for a "details" disclosure; empty when the title already says all of it. */
  detail: string;
}

/** A failure as the page holds it: any Error (a WorkerError or ImageGPTError carries `code`), or just its parts. */
export type Failure = Error | { message: string; code?: ErrorCode };

// Which field or file a message names (the library's messages start with the file, or name it in the text).
const CONFIG_FIELD = /^ImageGPT config \(([^)]*)\): "([^"]+)" (.*)$/s;
const CONFIG_OTHER = /^ImageGPT config \(([^)]*)\): (.*)$/s;
const FILE_NAME = /([\w.-]+\.(?:json|safetensors|bin|pt|pth|ckpt))\b/;
const TENSOR_NAME = /tensor ('[^']+'|"[^"]+")/;

const NEEDED_FILES =
  'A model needs config.json, preprocessor_config.json and its weights (model.safetensors or pytorch_model.bin, or their shards with the index file).';

/**
 * The message as a sentence: a plain first word gets a capital; a file name, field or URL that starts it
 * ("pytorch_model.bin: …", "n_head …") is left as it is spelled.
 */
function sentence(message: string): string {
  return /^[a-z]+(?![\w.\/:-])/.test(message) ? `${message.charAt(0).toUpperCase()}${message.slice(1)}` : message;
}

/** The message as advice: a sentence ending in a full stop. */
function asAdvice(message: string): string {
  return `${sentence(message)}${/[.!?]$/.test(message) ? '' : '.'}`;
}

/** The file part of a path or URL ('…/resolve/main/config.json' → 'config.json'). */
function baseName(source: string): string {
  const clean = source.split(/[?#]/)[0];
  return clean.slice(clean.lastIndexOf('/') + 1) || clean;
}

/** The first model file a message names ('…/resolve/main/model.safetensors' → 'model.safetensors'), or null. */
function namedFile(message: string): string | null {
  return FILE_NAME.exec(message)?.[1] ?? null;
}

/** A config.json field or value the library refused: which field, from the message; null when it is not a config error. */
function configProblem(model: string, message: string, keep: string): PlainError | null {
  const field = CONFIG_FIELD.exec(message);
  if (field) {
    const [, source, name, problem] = field;
    return {
      title: `${model}: its ${baseName(source)} has a bad value in the field "${name}".`,
      advice: `"${name}" ${problem}. Fix that field in ${baseName(source)} (or pick another model).${keep}`,
      detail: message,
    };
  }
  const other = CONFIG_OTHER.exec(message);
  if (other) {
    return {
      title: `${model}: its ${baseName(other[1])} cannot be used.`,
      advice: `${sentence(other[2])}. Fix ${baseName(other[1])} (or pick another model).${keep}`,
      detail: message,
    };
  }
  return null;
}

/** Any other failure: the library's message, which names the input, as the advice. */
function couldNotLoad(model: string, message: string, keep: string): PlainError {
  return { title: `${model} could not be loaded.`, advice: `${asAdvice(message)}${keep}`, detail: '' };
}

/** A model that could not be loaded: `model` is its name as the picker shows it, `still` what stays in use ('' if none). */
export function plainLoadError(model: string, failure: Failure, still: string): PlainError {
  const { message } = failure;
  const keep = still ? ` The page keeps using ${still}.` : '';
  const file = namedFile(message);
  switch (errorCode(failure)) {
    case 'E_BAD_FILE':
    case 'E_UNSUPPORTED': {
      const config = configProblem(model, message, keep);
      if (config) return config;
      if (errorCode(failure) === 'E_UNSUPPORTED') {
        return { title: `${model} uses something this page cannot run.`, advice: `${asAdvice(message)} Pick another model.${keep}`, detail: '' };
      }
      return {
        title: file ? `${model}: its ${file} is damaged.` : `${model}: one of its files is damaged.`,
        advice: `${file ?? 'The file'} cannot be read: it is cut short, damaged or not what its name says. Replace it with a good copy from where the model came from.${keep}`,
        detail: message,
      };
    }
    case 'E_NOT_FOUND': {
      const tensor = TENSOR_NAME.exec(message)?.[1];
      if (tensor) {
        return {
          title: `${model}: its weights lack the tensor ${tensor}.`,
          advice: `The weights are not a whole ImageGPT checkpoint (a wrong or cut-down file?). Replace them with a good copy, or pick another model.${keep}`,
          detail: message,
        };
      }
      return {
        title: file ? `${model}: ${file} is missing.` : `${model}: a file it needs is missing.`,
        advice: `${NEEDED_FILES} Add the missing file, or pick another model.${keep}`,
        detail: message,
      };
    }
    case 'E_NETWORK':
      return {
        title: `${model} could not be downloaded.`,
        advice: `${asAdvice(message)} Check the connection and try again.${keep}`,
        detail: '',
      };
    case 'E_DEVICE_LIMIT':
      return {
        title: `${model} is too large for this GPU.`,
        advice: `${asAdvice(message)} Pick a smaller model.${keep}`,
        detail: '',
      };
    case 'E_DEVICE_LOST':
      return {
        title: `The GPU stopped while ${model} was loading.`,
        advice: `Reload the page to start the GPU again.${keep}`,
        detail: message,
      };
    case 'E_MISMATCH':
      return {
        title: `${model}: its image processor and its weights do not belong together.`,
        advice: `${asAdvice(message)} Use the preprocessor_config.json that came with these weights.${keep}`,
        detail: '',
      };
    case 'E_BAD_INPUT': // a config value refused as an argument (a config object handed over, not read from a file)
      return configProblem(model, message, keep) ?? couldNotLoad(model, message, keep);
    default:
      return couldNotLoad(model, message, keep);
  }
}

/** An image file the page could not use: names the file and says why, and what to pick instead. */
export function plainImageError(fileName: string, type: string, failure: Failure): PlainError {
  const kind = type ? ` (${type})` : '';
  const unreadable = errorCode(failure) === 'E_BAD_FILE';
  return {
    title: `"${fileName}"${kind} could not be used as the image.`,
    advice: unreadable
      ? 'The browser cannot read it as a picture: it is not an image, or it is damaged. Choose a PNG, JPEG, GIF, WebP or BMP file. There is no image to complete until you pick one.'
      : `${sentence(failure.message)}. Try another image. There is no image to complete until you pick one.`,
    detail: unreadable ? '' : failure.message,
  };
}
