// The load line's words and bar, from the library's progress events. No DOM here, so the unit tests run
// without a browser. A size can be unknown (a server that gzips the weights sends no usable length): then
// the line says the bytes so far and the bar is indeterminate, never "Infinity %", NaN or more than 100 %.
import type { LoadProgress } from '../../src/index';
import { formatBytes } from './pixels';

/** One load progress event as the worker forwards it: the library's own type. */
export type LoadEvent = LoadProgress;

/** Whether `total` is a size a share can be taken of. */
function known(total: number | undefined): total is number {
  return typeof total === 'number' && Number.isFinite(total) && total > 0;
}

/** loaded / total in [0, 1], or null when the total is unknown. */
export function fractionOf(loaded: number, total: number | undefined): number | null {
  if (!known(total) || !Number.isFinite(loaded)) return null;
  return Math.min(1, Math.max(0, loaded / total));
}

/** "37 %" (whole percent, at most 100), or the bytes so far when the total is unknown. */
export function percentText(loaded: number, total: number | undefined): string {
  const f = fractionOf(loaded, total);
  return f === null ? formatBytes(Math.max(0, loaded)) : `${Math.floor(f * 100)} %`;
}

/** "1.2 MB of 3.4 MB (35 %)", or "1.2 MB (size unknown)". */
export function amountText(loaded: number, total: number | undefined): string {
  const f = fractionOf(loaded, total);
  if (f === null) return `${formatBytes(Math.max(0, loaded))} (size unknown)`;
  return `${formatBytes(Math.min(loaded, total!))} of ${formatBytes(total!)} (${Math.floor(f * 100)} %)`;
}

/** The share of one event: of every weight file when that total is known, else of this file, else null. */
function shareOf(e: LoadEvent): number | null {
  return fractionOf(e.overall.loaded, e.overall.total) ?? fractionOf(e.loaded, e.total);
}

export interface LoadView {
  /** The bar's value in [0, 1]; null: indeterminate (a size is unknown). */
  fraction: number | null;
  text: string;
}

/**
 * The line and bar for the latest download-or-cache event and the latest upload event: bytes arrive and go to
 * the GPU at the same time, so one line shows both and the bar their mean. `local`: the bytes come from the
 * user's files, not the browser cache.
 */
export function loadView(fetched: LoadEvent | undefined, upload: LoadEvent | undefined, local: boolean): LoadView {
  const parts: string[] = [];
  if (fetched?.phase === 'download') parts.push(`Downloading ${fetched.file}: ${amountText(fetched.loaded, fetched.total)}`);
  else if (fetched) parts.push(`Reading ${fetched.file}${local ? '' : ' from the browser cache'}: ${percentText(fetched.loaded, fetched.total)}`);
  if (upload) parts.push(`${upload.file} on the GPU: ${percentText(upload.loaded, upload.total)}`);
  // An unknown share makes the whole bar indeterminate: a mean with a guess in it would jump about.
  const fetchShare = fetched ? shareOf(fetched) : 0;
  const uploadShare = upload ? shareOf(upload) : 0;
  const fraction = fetchShare === null || uploadShare === null ? null : (fetchShare + uploadShare) / 2;
  return { fraction, text: parts.join(' · ') };
}
