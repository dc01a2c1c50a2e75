// Reading GPU buffers back to the CPU through one staging buffer that is kept and reused
// (grown when a larger read comes), not created per call.

export class BufferReader {
  private staging: GPUBuffer | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly device: GPUDevice) {}

  /** Copies `bytes` bytes of `buffer` from `offset` (both multiples of 4) into a fresh ArrayBuffer. */
  read(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    if (!Number.isInteger(offset) || !Number.isInteger(bytes) || offset < 0 || bytes < 0 || offset % 4 !== 0 || bytes % 4 !== 0) {
      throw new Error(`readBuffer: offset ${offset} and size ${bytes} must be non-negative multiples of 4`);
    }
    if (offset + bytes > buffer.size) {
      throw new Error(`readBuffer: bytes ${offset}…${offset + bytes} are past the end of ${buffer.label || 'the buffer'} (${buffer.size} bytes)`);
    }
    // One map at a time: the staging buffer cannot be mapped twice.
    const result = this.queue.then(() => this.copyOut(buffer, offset, bytes));
    this.queue = result.catch(() => undefined);
    return result;
  }

  destroy(): void {
    this.staging?.destroy();
    this.staging = null;
  }

  private async copyOut(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    if (bytes === 0) return new ArrayBuffer(0);
    if (!this.staging || this.staging.size < bytes) {
      this.staging?.destroy();
      this.staging = this.device.createBuffer({
        label: 'readback staging',
        size: Math.max(bytes, 256),
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
    }
    const staging = this.staging;
    const encoder = this.device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, bytes);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ, 0, bytes);
    try {
      return staging.getMappedRange(0, bytes).slice(0);
    } finally {
      staging.unmap();
    }
  }
}

const readers = new WeakMap<GPUDevice, BufferReader>();

/** Reads `bytes` bytes of `buffer` from `offset`, through a staging buffer kept per device. */
export function readBuffer(device: GPUDevice, buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  let reader = readers.get(device);
  if (!reader) {
    reader = new BufferReader(device);
    readers.set(device, reader);
  }
  return reader.read(buffer, offset, bytes);
}
