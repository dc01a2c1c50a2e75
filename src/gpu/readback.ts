import { ImageGPTError } from '../errors';
// Reading GPU buffers back to the CPU: the one way the library (sessions, generation) and the tests do it.
// A Readback owns a few MAP_READ staging buffers, made once and reused (grown when a larger read comes),
// never one per call. A read is either staged (copies recorded into the caller's own encoder, so they ride
// on a submit it makes anyway; mapped after that submit) or done whole by read() (copy, submit, map).
// With several slots a caller records the next read while earlier ones are still mapping: the GPU never
// waits on the CPU (generation reads each image row through a ring of three).

export interface ReadbackOptions {
  /** Names the staging buffers and starts error messages (default 'readback'). */
  label?: string;
  /** Staging buffers used in turn (default 1). */
  slots?: number;
  /** Bytes each staging buffer is made with now, so that none is made later for reads up to this size (default 0: on first use). */
  bytes?: number;
  /** Told the change in GPU bytes whenever a staging buffer is made, grown or freed (memory accounting). */
  onAllocate?: (deltaBytes: number) => void;
}

/** One staging buffer, taken by stage(): record copies into it, submit, then map() it. Reusable until its slot is staged again. */
export interface StagedRead {
  /** Bytes the staging buffer holds (at least what stage() was asked for). */
  readonly size: number;
  /** Records a copy of `bytes` of `source` from `sourceOffset` to `offset` in the staging buffer (all multiples of 4). */
  copy(encoder: GPUCommandEncoder, source: GPUBuffer, sourceOffset: number, offset: number, bytes: number): void;
  /** After the submit that holds the copies: the first `bytes` (default: all) as a fresh ArrayBuffer; the buffer is unmapped again. */
  map(bytes?: number): Promise<ArrayBuffer>;
}

interface Slot {
  buffer: GPUBuffer | null;
  /** True from mapAsync until unmap: the buffer cannot take copies or another map then. */
  mapping: boolean;
  /** The StagedRead that holds the slot now (a newer stage() takes it over). */
  holder: object | null;
}

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

function checkRange(what: string, offset: number, bytes: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(bytes) || offset < 0 || bytes < 0 || offset % 4 !== 0 || bytes % 4 !== 0) {
    throw new ImageGPTError('E_INTERNAL', `${what}: offset ${offset} and size ${bytes} must be non-negative multiples of 4`);
  }
}

export class Readback {
  private readonly label: string;
  private readonly slots: Slot[];
  private next = 0;
  private allocated = 0;
  private readonly onAllocate: (deltaBytes: number) => void;
  /** read() calls run one after another (each one stages, submits and maps). */
  private queue: Promise<unknown> = Promise.resolve();
  private destroyed = false;

  constructor(
    private readonly device: GPUDevice,
    options: ReadbackOptions = {},
  ) {
    this.label = options.label ?? 'readback';
    const slots = options.slots ?? 1;
    if (!Number.isInteger(slots) || slots < 1) throw new ImageGPTError('E_INTERNAL', `${this.label}: slots must be a positive integer, got ${slots}`);
    this.onAllocate = options.onAllocate ?? (() => {});
    this.slots = Array.from({ length: slots }, () => ({ buffer: null, mapping: false, holder: null }));
    const bytes = options.bytes ?? 0;
    if (bytes > 0) for (const slot of this.slots) this.grow(slot, bytes);
  }

  /** GPU bytes of the staging buffers. */
  get gpuBytes(): number {
    return this.allocated;
  }

  /**
   * Takes the next staging buffer in turn, at least `bytes` large. Its previous read must have been mapped
   * already (a caller with several reads in flight waits for the oldest before staging past it).
   */
  stage(bytes: number): StagedRead {
    if (this.destroyed) throw new ImageGPTError('E_DISPOSED', `${this.label}: used after destroy()`);
    checkRange(this.label, 0, roundUp4(bytes));
    const index = this.next;
    const slot = this.slots[index];
    if (slot.mapping) {
      throw new ImageGPTError('E_BUSY', 
        `${this.label}: staging buffer ${index + 1} of ${this.slots.length} is still being mapped; wait for its map() before staging another read`,
      );
    }
    this.next = (index + 1) % this.slots.length;
    const buffer = this.grow(slot, bytes);
    const holder = {};
    slot.holder = holder;
    const label = this.label;
    const own = (what: string) => {
      if (slot.holder !== holder || slot.buffer !== buffer) throw new ImageGPTError('E_INTERNAL', `${label}: ${what} a staged read whose buffer a newer stage() took`);
      if (slot.mapping) throw new ImageGPTError('E_BUSY', `${label}: ${what} a staged read that is still being mapped`);
    };
    return {
      size: buffer.size,
      copy(encoder, source, sourceOffset, offset, n) {
        own('copy into');
        checkRange(label, offset, n);
        checkRange(label, sourceOffset, n);
        if (offset + n > buffer.size) throw new ImageGPTError('E_INTERNAL', `${label}: a copy to bytes ${offset}…${offset + n} overruns the ${buffer.size}-byte staging buffer`);
        if (sourceOffset + n > source.size) {
          throw new ImageGPTError('E_INTERNAL', `${label}: bytes ${sourceOffset}…${sourceOffset + n} are past the end of ${source.label || 'the buffer'} (${source.size} bytes)`);
        }
        if (n > 0) encoder.copyBufferToBuffer(source, sourceOffset, buffer, offset, n);
      },
      async map(n = buffer.size) {
        own('map');
        if (!Number.isInteger(n) || n < 0 || n > buffer.size) throw new ImageGPTError('E_INTERNAL', `${label}: map(${n}) outside the ${buffer.size}-byte staging buffer`);
        if (n === 0) return new ArrayBuffer(0);
        const mapped = roundUp4(n);
        slot.mapping = true;
        try {
          await buffer.mapAsync(GPUMapMode.READ, 0, mapped);
          const out = buffer.getMappedRange(0, mapped).slice(0, n);
          buffer.unmap();
          return out;
        } finally {
          slot.mapping = false;
        }
      },
    };
  }

  /** Copies `bytes` of `buffer` from `offset` (both multiples of 4) into a fresh ArrayBuffer: one submit, one map. Calls queue. */
  read(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    checkRange(this.label, offset, bytes);
    if (offset + bytes > buffer.size) {
      throw new ImageGPTError('E_INTERNAL', `${this.label}: bytes ${offset}…${offset + bytes} are past the end of ${buffer.label || 'the buffer'} (${buffer.size} bytes)`);
    }
    const result = this.queue.then(async () => {
      if (bytes === 0) return new ArrayBuffer(0);
      const staged = this.stage(bytes);
      const encoder = this.device.createCommandEncoder({ label: this.label });
      staged.copy(encoder, buffer, offset, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
      return staged.map(bytes);
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Frees the staging buffers (reported to onAllocate). A pending map then rejects. */
  destroy(): void {
    this.destroyed = true;
    for (const slot of this.slots) {
      if (!slot.buffer) continue;
      this.resize(-slot.buffer.size);
      slot.buffer.destroy();
      slot.buffer = null;
      slot.holder = null;
    }
  }

  private grow(slot: Slot, bytes: number): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (slot.buffer && slot.buffer.size >= size) return slot.buffer;
    const limit = this.device.limits.maxBufferSize;
    if (size > limit) {
      throw new ImageGPTError('E_DEVICE_LIMIT', `${this.label}: a readback of ${size} bytes exceeds the device's maxBufferSize ${limit}; read fewer rows or layers at once`);
    }
    if (slot.buffer) {
      this.resize(-slot.buffer.size);
      slot.buffer.destroy();
    }
    const index = this.slots.indexOf(slot);
    slot.buffer = this.device.createBuffer({
      label: this.slots.length > 1 ? `${this.label} staging ${index}` : `${this.label} staging`,
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.resize(size);
    return slot.buffer;
  }

  private resize(delta: number): void {
    this.allocated += delta;
    this.onAllocate(delta);
  }
}

const readers = new WeakMap<GPUDevice, Readback>();

/** Reads `bytes` bytes of `buffer` from `offset` through the device's shared Readback (tests, one-off reads). */
export function readBuffer(device: GPUDevice, buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  let reader = readers.get(device);
  if (!reader) {
    reader = new Readback(device, { label: 'readBuffer' });
    readers.set(device, reader);
  }
  return reader.read(buffer, offset, bytes);
}
