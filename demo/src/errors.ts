// Errors in plain words: what went wrong, for which input, and what to do. The library's messages already
// name files and fields; these turn the ones a user meets into a title and a sentence, and keep the
// library's text as a detail for those who want it. No DOM here (tested in test/demo/).

export interface PlainError {
  /** One short sentence: what failed. */
  title: string;
  /** What to do about it (and, where known, which file or field). */
  advice: string;
  /** The original message, for a "details" disclosure; empty when the title already says all of it. */
  detail: string;
}

const CONFIG_FIELD = /^ImageGPT config \(([^)]*)\): "([^"]+)" (.*)$/s;
const CONFIG_OTHER = /^ImageGPT config \(([^)]*)\): (.*)$/s;
const NOT_JSON = /([\w.-]+\.json)(?: \([^)]*\))? is not valid JSON/;
const NOT_FOUND = /([\w.-]+\.(?:json|safetensors|bin))(?: \([^)]*\))? was not found/;

/**
 * The message as a sentence: a plain first word gets a capital; a file name, field or URL that starts it
 * ("pytorch_model.bin: …", "n_head …") is left as it is spelled.
 */
function sentence(message: string): string {
  return /^[a-z]+(?![\w.\/:-])/.test(message) ? `${message.charAt(0).toUpperCase()}${message.slice(1)}` : message;
}

/** The file part of a path or URL ('…/resolve/main/config.json' → 'config.json'). */
function baseName(source: string): string {
  const clean = source.split(/[?#]/)[0];
  return clean.slice(clean.lastIndexOf('/') + 1) || clean;
}

/** A model that could not be loaded: `model` is its name as the picker shows it, `still` what stays in use ('' if none). */
export function plainLoadError(model: string, message: string, still: string): PlainError {
  const keep = still ? ` The page keeps using ${still}.` : '';
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
  const json = NOT_JSON.exec(message);
  if (json) {
    return {
      title: `${model}: its ${json[1]} is damaged.`,
      advice: `The file is not valid JSON (cut short or edited by hand?), so its settings cannot be read. Replace ${json[1]} with a good copy from where the model came from.${keep}`,
      detail: message,
    };
  }
  const missing = NOT_FOUND.exec(message);
  if (missing) {
    return {
      title: `${model}: ${missing[1]} is missing.`,
      advice: `A model needs config.json, preprocessor_config.json and its weights (model.safetensors or pytorch_model.bin, or their shards with the index file). Add the missing file, or pick another model.${keep}`,
      detail: message,
    };
  }
  return { title: `${model} could not be loaded.`, advice: `${sentence(message)}${/[.!?]$/.test(message) ? '' : '.'}${keep}`, detail: '' };
}

/** An image file the page could not use: names the file and says why, and what to pick instead. */
export function plainImageError(fileName: string, type: string, message: string): PlainError {
  const kind = type ? ` (${type})` : '';
  const unreadable = /not an image the browser can read/.test(message);
  return {
    title: `"${fileName}"${kind} could not be used as the image.`,
    advice: unreadable
      ? 'The browser cannot read it as a picture: it is not an image, or it is damaged. Choose a PNG, JPEG, GIF, WebP or BMP file. There is no image to complete until you pick one.'
      : `${sentence(message)}. Try another image. There is no image to complete until you pick one.`,
    detail: unreadable ? '' : message,
  };
}
