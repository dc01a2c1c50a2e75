// generate() and complete() reuse one KV runner (a session's engine) per shape (batch, cache length) instead of making one per call: an
// imagegpt-small completion at batch 8 would otherwise allocate and free ~805 MB every call.
//
// Policy, chosen so the model never holds more GPU memory when it allocates than it did without the cache:
// - at most one idle session is kept, that of the last call to finish;
// - any other session the model makes (another shape, createSession, forward, features, …) frees it first;
// - a call that fails gives its session up (freed); one that is aborted keeps it, reset, for the next call;
// - a call takes the idle session for itself, so a second call running at the same time makes its own (as every
//   call did before): two calls never share a cache;
// - model.dispose() frees it with every other session.
import type { Runner } from './runner';

interface Destroyable {
  destroy(): void;
}

/** A session lent to one call, with the run buffers kept beside it (the token history, the readback ring, …). */
export class Lease {
  private readonly kept = new Map<string, { key: string; resource: Destroyable }>();

  constructor(readonly runner: Runner) {}

  /**
   * The resource in `slot`, made by `make` unless the one there was made for the same `key` (then reused): one
   * made for another key is freed first. Kept until the lease is freed or dropKept() runs.
   */
  keep<T extends Destroyable>(slot: string, key: string, make: () => T): T {
    const held = this.kept.get(slot);
    if (held?.key === key) return held.resource as T;
    held?.resource.destroy();
    this.kept.delete(slot);
    const resource = make();
    this.kept.set(slot, { key, resource });
    return resource;
  }

  /** Frees the kept run buffers; the session stays. */
  dropKept(): void {
    for (const { resource } of this.kept.values()) resource.destroy();
    this.kept.clear();
  }

  /** Frees the kept run buffers and the session. */
  free(): void {
    this.dropKept();
    this.runner.dispose();
  }
}

/** Where generate gets its session and gives it back. */
export interface SessionLease {
  /** A session of this shape holding no tokens, used by the caller alone until it is given back. */
  take(batch: number, maxLength: number): Lease;
  /**
   * Gives the lease back. `outcome`: 'finished' keeps it whole for the next call of its shape; 'aborted' keeps the
   * session but frees the run buffers (maps may still be pending on them); 'failed' frees it all.
   */
  give(lease: Lease, outcome: 'finished' | 'aborted' | 'failed'): void;
}

export class SessionCache implements SessionLease {
  private idle: Lease | null = null;

  /**
   * `open` makes a new runner (the model's openRunner, which calls evict() first); `closed` is true once the model
   * is disposed, when nothing is kept any more.
   */
  constructor(
    private readonly open: (batch: number, maxLength: number) => Runner,
    private readonly closed: () => boolean,
  ) {}

  take(batch: number, maxLength: number): Lease {
    const idle = this.idle;
    if (idle && idle.runner.batchSize === batch && idle.runner.maxLength === maxLength) {
      this.idle = null;
      return idle;
    }
    this.evict();
    return new Lease(this.open(batch, maxLength));
  }

  give(lease: Lease, outcome: 'finished' | 'aborted' | 'failed'): void {
    if (outcome === 'failed' || this.closed()) {
      lease.free();
      return;
    }
    if (outcome === 'aborted') lease.dropKept();
    // The next call starts from an empty cache, as a new session would (reset also clears the key mask).
    lease.runner.reset();
    this.evict();
    this.idle = lease;
  }

  /** Frees the idle session, if any. */
  evict(): void {
    const idle = this.idle;
    this.idle = null;
    idle?.free();
  }

  /** GPU bytes of the idle session (0 when none). */
  get bytes(): number {
    return this.idle?.runner.gpuBytes ?? 0;
  }
}
