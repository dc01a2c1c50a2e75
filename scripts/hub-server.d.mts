// Types of hub-server.mjs (plain JavaScript so that plain `node` scripts, like the demo's e2e, can start it).

export interface HubServerOptions {
  /** Repo id (`org/name`) → folder served as its `main` revision. Default: none (addRepo them). */
  repos?: Record<string, string>;
  /** false: Range headers are ignored (always 200 with the whole body, no Accept-Ranges). Default true. */
  range?: boolean;
  /** true: 206 responses carry no Content-Range (a cross-origin server that does not expose it, as a page sees it). Default false. */
  hideContentRange?: boolean;
  /** true: weight files are sent gzip-encoded, whole (200, Range ignored, no length of the file itself). Default false. */
  gzip?: boolean;
  /** Default 0 (any free port). Always on 127.0.0.1. */
  port?: number;
}

/** One request as the server saw it; `status` and `bytes` grow as the response goes out. */
export interface HubRequest {
  method: string;
  /** Path and query as requested, e.g. '/test-org/tiny-bin/resolve/main/config.json' or '/cdn/<sha256>/pytorch_model.bin'. */
  path: string;
  /** The Range header, if any. */
  range: string | undefined;
  /** 'resolve': a hub path; 'cdn': the redirect target holding a file's bytes; 'other': anything else. */
  kind: 'resolve' | 'cdn' | 'other';
  /** The repo's file (resolve) or the blob's file name (cdn). */
  file?: string;
  repo?: string;
  revision?: string;
  /** 0 until the status line is written. */
  status: number;
  /** Body bytes written so far, as sent (compressed when gzip; for a response the client dropped, only part of its range: count these, not the range asked for). */
  bytes: number;
}

/** A response body about to be sent (GET of a file's bytes): the hook's input. */
export interface HubBodyRequest {
  method: string;
  path: string;
  /** The repo's file name (direct 200) or the blob's file name (cdn). */
  file: string;
  /** Byte range of the file this body carries: [start, end). */
  start: number;
  end: number;
  /** The whole file's size. */
  size: number;
}

/** What the hook asks for: send this many body bytes, then hold the response open, or close the connection. */
export interface HubBodyPlan {
  /** Send this many bytes, then stall until the client goes away or the server closes. */
  stallAfter?: number;
  /** Send this many bytes, then close the connection (a body shorter than its Content-Length). */
  cutAfter?: number;
  /** Called once the stall begins (all `stallAfter` bytes handed to the socket). */
  onStall?: () => void;
}

export interface HubServer {
  /** 'http://127.0.0.1:PORT' (pass it as `host`). */
  readonly url: string;
  /** Every request, in order of arrival. */
  readonly log: HubRequest[];
  /** Whether Range headers are honoured (may be changed between loads). */
  range: boolean;
  /** Whether 206 responses leave out Content-Range (may be changed between loads). */
  hideContentRange: boolean;
  /** Whether weight files are sent gzip-encoded (may be changed between loads). */
  gzip: boolean;
  /** Called for each body sent; return a plan to stall or cut it. */
  hook: ((request: HubBodyRequest) => HubBodyPlan | undefined) | undefined;
  addRepo(id: string, folder: string): void;
  /** Another revision (tag, branch, commit) of a repo; folder defaults to the repo's main folder. */
  addRevision(id: string, revision: string, folder?: string): void;
  /** `${url}/${id}/resolve/${revision}/${file}`. */
  fileUrl(id: string, file: string, revision?: string): string;
  clearLog(): void;
  /** Ends every connection (stalled ones too) and stops listening. */
  close(): Promise<void>;
}

export function startHubServer(options?: HubServerOptions): Promise<HubServer>;

/** One `bytes=a-b` / `a-` / `-n` range → [start, end); undefined if absent or not one well-formed range; 'unsatisfiable' past the end. */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined;
