// A failed fine-tuning run in plain words ("Teach it a style", the own-classes fine-tune): what failed and what to
// do, chosen by the library's stable error code (carried across the worker by client.ts). No DOM.
import { errorCode } from '../../src/index';
import type { Failure, PlainError } from './errors';

/** `what` names the run ("Teaching the style", "Fine-tuning the classifier"). */
export function plainTrainingError(what: string, failure: Failure): PlainError {
  const { message } = failure;
  switch (errorCode(failure)) {
    case 'E_DEVICE_LIMIT':
      return { title: `${what} needs more GPU memory than this GPU gives.`, advice: 'Lower the batch (or pick a smaller model) and try again.', detail: message };
    case 'E_DEVICE_LOST':
      return { title: `The GPU stopped while ${what.toLowerCase()}.`, advice: 'Reload the page to start the GPU again.', detail: message };
    case 'E_UNSUPPORTED':
      return { title: `${what} is not possible with this model.`, advice: 'Pick another model (the shipped ones and openai/imagegpt-small can be fine-tuned).', detail: message };
    case 'E_NOT_FOUND':
    case 'E_NETWORK':
    case 'E_BAD_FILE':
      return { title: `${what} could not read the model's files again for its own copy.`, advice: 'Load the model again and retry.', detail: message };
    case 'E_BAD_INPUT':
      return { title: `${what} was refused.`, advice: `${message.replace(/\.?$/, '.')}`, detail: '' };
    default:
      return { title: `${what} failed.`, advice: 'Try again; if it fails again, reload the page.', detail: message };
  }
}
