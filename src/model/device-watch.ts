// A model's watch on its device: one handler on `device.lost` per device; a GPU failure after a loss becomes one
// ImageGPTError 'E_DEVICE_LOST' saying so, and the caller's own abort stays told apart from the GPU's aborts.
import { describeValue } from '../json';
import { ImageGPTError } from '../errors';

/** The caller's signal stopped the work (generate's AbortError, told apart from the GPU's own aborts). */
export class AbortedError extends ImageGPTError {
  constructor(what: string) {
    super('E_ABORTED', `${what}: aborted`);
    this.name = 'AbortError';
  }
}

/** What is known of one device's loss: one handler on `device.lost` per device, whatever number of models use it. */
interface DeviceLossState {
  info: GPUDeviceLostInfo | null;
  lost: Promise<GPUDeviceLostInfo>;
  /** Calls waiting briefly for a loss to be reported (explain); each removes itself when its wait ends. */
  waiters: Set<() => void>;
}

const lossStates = new WeakMap<GPUDevice, DeviceLossState>();

/**
 * The device's loss state, made on first use. A promise reaction cannot be removed, so a handler per model would
 * stay on the caller's device after dispose(); this one is shared and holds no model.
 */
function lossState(device: GPUDevice): DeviceLossState {
  let state = lossStates.get(device);
  if (!state) {
    const made: DeviceLossState = { info: null, lost: null as unknown as Promise<GPUDeviceLostInfo>, waiters: new Set() };
    made.lost = device.lost.then((info) => {
      made.info = info;
      for (const wake of made.waiters) wake();
      made.waiters.clear();
      return info;
    });
    lossStates.set(device, made);
    state = made;
  }
  return state;
}

/**
 * Watches a device for loss. A lost device fails pending GPU promises with bare errors (Dawn: an
 * AbortError with an empty message); explain() turns those into one Error saying what happened.
 */
export class DeviceWatch {
  private readonly state: DeviceLossState;

  constructor(device: GPUDevice) {
    this.state = lossState(device);
  }

  get lost(): Promise<GPUDeviceLostInfo> {
    return this.state.lost;
  }

  get isLost(): boolean {
    return this.state.info !== null;
  }

  /** Throws the loss Error once the device is lost. */
  check(): void {
    if (this.state.info) throw lostError(this.state.info);
  }

  /**
   * The Error to give the caller for a failure `e` of call `what`. GPU-side failures (not ours) wait
   * briefly for the loss to be reported, since the pending promises may reject before `device.lost` resolves.
   */
  async explain(what: string, e: unknown): Promise<Error> {
    const state = this.state;
    if (state.info) return lostError(state.info);
    if (e instanceof AbortedError) return e;
    const ours = e instanceof ImageGPTError || (e instanceof Error && e.name === 'Error' && e.message !== '');
    if (ours) return e;
    // Not Promise.race on `lost`: a reaction on a pending promise would stay until the device is lost.
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        state.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, LOSS_GRACE_MS);
      state.waiters.add(wake);
    });
    if (state.info) return lostError(state.info);
    if (e instanceof Error) return e;
    return new ImageGPTError('E_INTERNAL', `${what}: failed with a non-Error value: ${describeValue(e)}`);
  }
}

/** How long a GPU-side failure waits for device.lost (Dawn reports it within a few ms). */
const LOSS_GRACE_MS = 200;

function lostError(info: GPUDeviceLostInfo): ImageGPTError {
  const why = `${info.reason}${info.message ? `: ${info.message}` : ''}`;
  return new ImageGPTError('E_DEVICE_LOST', `ImageGPT: the GPU device was lost (${why}); create a new model (on a new device)`);
}
