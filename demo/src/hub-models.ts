// The Hugging Face hub models the picker offers, and where the hub is. OpenAI's checkpoints keep a
// pytorch_model.bin (float32, with the old attention-mask buffers) on their main branch; the sizes are
// those files' sizes as the hub lists them.

export interface HubModel {
  id: string;
  /** Image side in pixels, when known before loading. */
  imageSize?: number;
  nLayer?: number;
  /** Bytes to download (pytorch_model.bin), when known. */
  downloadBytes?: number;
}

export const HUB_MODELS: readonly HubModel[] = [
  { id: 'openai/imagegpt-small', imageSize: 32, nLayer: 24, downloadBytes: 332e6 },
  { id: 'openai/imagegpt-medium', imageSize: 32, nLayer: 36, downloadBytes: 1_859_861_913 },
  { id: 'openai/imagegpt-large', imageSize: 32, nLayer: 48, downloadBytes: 5.5e9 },
];

export const DEFAULT_HUB = 'https://huggingface.co';
/** Downloads above this ask first. */
export const CONFIRM_ABOVE_BYTES = 100e6;

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export interface HubSettings {
  /** The host hub ids resolve on; undefined: the library's default (huggingface.co). */
  host: string | undefined;
  /** Extra hub ids to offer (`?hubModels=a/b,c/d`: tests, or a fine-tuned copy). */
  extra: HubModel[];
  /** What was wrong with the page's parameters, to show instead of ignoring it. */
  problems: string[];
}

/**
 * Reads `?hub=<url>` (else the build's VITE_HUB_HOST) and `?hubModels=<id>,<id>` from the page's URL.
 * A value that cannot be used is reported in `problems`, and the default kept.
 */
export function hubSettings(search: string, envHost: string | undefined): HubSettings {
  const params = new URLSearchParams(search);
  const problems: string[] = [];
  let host: string | undefined;
  const asked = params.get('hub') ?? (envHost || null);
  if (asked !== null) {
    let url: URL | null = null;
    try {
      url = new URL(asked);
    } catch {
      url = null;
    }
    if (url && (url.protocol === 'http:' || url.protocol === 'https:')) host = asked.replace(/\/+$/, '');
    else problems.push(`the hub address "${asked}" is not an http(s) URL, so ${DEFAULT_HUB} is used`);
  }
  const extra: HubModel[] = [];
  for (const id of (params.get('hubModels') ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!HUB_ID.test(id)) problems.push(`"${id}" in hubModels is not a hub id like org/name`);
    else if (!HUB_MODELS.some((m) => m.id === id) && !extra.some((m) => m.id === id)) extra.push({ id });
  }
  return { host, extra, problems };
}

/** Decimal units, as the hub lists file sizes. */
export function formatDownload(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(bytes >= 1e10 ? 0 : bytes >= 5e9 ? 1 : 2)} GB`;
  return `${Math.round(bytes / 1e6)} MB`;
}
