// The page's side of the worker protocol: one promise per request, progress through a callback.
import type { ErrorCode } from '../../src/index';
import type { Progress, Reply, Request, Results } from './protocol';

/** An error the worker answered, rebuilt on the page's side with the library's stable `code` (undefined when not the library's). */
export class WorkerError extends Error {
  readonly code: ErrorCode | undefined;
  constructor(message: string, name: string, code: ErrorCode | undefined) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

type RequestOf<T extends Request['type']> = Extract<Request, { type: T }>;
/** A request without its id (the client numbers them). */
export type RequestBody<T extends Request['type']> = { type: T } & Omit<RequestOf<T>, 'id' | 'type'>;

interface Pending {
  resolve: (value: never) => void;
  reject: (error: Error) => void;
  onProgress?: (p: Progress) => void;
}

export class ModelClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'imagegpt-model' });
    this.worker.onmessage = (e: MessageEvent<Reply>) => this.receive(e.data);
    this.worker.onerror = (e) => {
      const error = new Error(`the model worker failed: ${e.message || 'it could not start'}`);
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
  }

  /** Sends a request; `id` is given to `onStart` so the caller can stop it. */
  request<T extends Request['type']>(
    body: RequestBody<T>,
    options: { onProgress?: (p: Progress) => void; transfer?: Transferable[]; onStart?: (id: number) => void } = {},
  ): Promise<Results[T]> {
    const id = this.nextId++;
    options.onStart?.(id);
    return new Promise<Results[T]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject, onProgress: options.onProgress });
      this.worker.postMessage({ ...body, id }, options.transfer ?? []);
    });
  }

  private receive(reply: Reply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    if (reply.type === 'progress') {
      p.onProgress?.(reply.progress);
      return;
    }
    this.pending.delete(reply.id);
    if (reply.type === 'done') p.resolve(reply.result as never);
    else {
      p.reject(new WorkerError(reply.message, reply.name, reply.code));
    }
  }
}
