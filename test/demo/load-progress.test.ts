// The demo's load line and bar: no "Infinity %", NaN or more than 100 %, whatever sizes the library reports.
import { describe, expect, it } from 'vitest';
import { amountText, fractionOf, loadView, percentText, type LoadEvent } from '../../demo/src/load-progress';

function event(phase: LoadEvent['phase'], loaded: number, total: number | undefined, overall?: LoadEvent['overall']): LoadEvent {
  return { phase, file: 'pytorch_model.bin', loaded, total, overall: overall ?? { loaded, total } };
}

/** Nothing a user should ever read on the load line. */
const NONSENSE = /Infinity|NaN|undefined|-\d|\b(10[1-9]|1[1-9]\d|[2-9]\d\d|\d{4,}) %/;

describe('fractionOf and percentText', () => {
  it('take a known share, floored to whole percent', () => {
    expect(fractionOf(250, 1000)).toBe(0.25);
    expect(percentText(999, 1000)).toBe('99 %');
    expect(percentText(1000, 1000)).toBe('100 %');
  });

  it('never pass 100 %: the 161 % a Range-read pytorch_model.bin once reported shows as 100 %', () => {
    expect('161 %').toMatch(NONSENSE);
    expect('100 %').not.toMatch(NONSENSE);
    expect(fractionOf(161, 100)).toBe(1);
    expect(percentText(1_610_000, 1_000_000)).toBe('100 %');
  });

  it('say the bytes so far when the size is unknown (undefined, or the 0 older versions sent)', () => {
    expect(fractionOf(5000, undefined)).toBeNull();
    expect(fractionOf(5000, 0)).toBeNull();
    expect(percentText(5000, undefined)).toBe('5.0 kB');
    expect(percentText(5000, 0)).toBe('5.0 kB');
    expect(amountText(2_500_000, undefined)).toBe('2.5 MB (size unknown)');
    expect(amountText(2_500_000, 10_000_000)).toBe('2.5 MB of 10.0 MB (25 %)');
    expect(amountText(16_100_000, 10_000_000)).toBe('10.0 MB of 10.0 MB (100 %)');
  });

  it('treat NaN and infinite values as unknown', () => {
    expect(fractionOf(Number.NaN, 100)).toBeNull();
    expect(fractionOf(10, Number.POSITIVE_INFINITY)).toBeNull();
    expect(fractionOf(10, Number.NaN)).toBeNull();
  });
});

describe('loadView', () => {
  it('is empty before any event: a bar at 0', () => {
    expect(loadView(undefined, undefined, false)).toEqual({ fraction: 0, text: '' });
  });

  it('shows download and upload on one line, the bar their mean over every weight file', () => {
    const download = event('download', 300, 1000, { loaded: 300, total: 2000 });
    const upload = event('upload', 100, 1000, { loaded: 100, total: 2000 });
    const view = loadView(download, upload, false);
    expect(view.fraction).toBeCloseTo((0.15 + 0.05) / 2, 12);
    expect(view.text).toBe('Downloading pytorch_model.bin: 300 B of 1.0 kB (30 %) · pytorch_model.bin on the GPU: 10 %');
  });

  it('makes the bar indeterminate and says bytes when a gzipping server hides the size', () => {
    const download = event('download', 1_200_000, undefined);
    const upload = event('upload', 800_000, undefined);
    const view = loadView(download, upload, false);
    expect(view.fraction).toBeNull();
    expect(view.text).toBe('Downloading pytorch_model.bin: 1.2 MB (size unknown) · pytorch_model.bin on the GPU: 800.0 kB');
    expect(view.text).not.toMatch(NONSENSE);
  });

  it('uses the file\'s own share when only the overall total is unknown', () => {
    const view = loadView(event('cached', 50, 100, { loaded: 50, total: undefined }), undefined, false);
    expect(view.fraction).toBe(0.25);
    expect(view.text).toBe('Reading pytorch_model.bin from the browser cache: 50 %');
  });

  it('says local files are read, not the cache', () => {
    expect(loadView(event('cached', 10, 10), undefined, true).text).toBe('Reading pytorch_model.bin: 100 %');
  });

  it('over a whole load with overshooting, unknown and zero totals stays within 0..1 and says nothing absurd', () => {
    const totals = [1000, undefined, 0];
    for (const total of totals) {
      for (let loaded = 0; loaded <= 2000; loaded += 250) {
        const view = loadView(event('download', loaded, total), event('upload', loaded, total), false);
        if (view.fraction !== null) {
          expect(view.fraction).toBeGreaterThanOrEqual(0);
          expect(view.fraction).toBeLessThanOrEqual(1);
        } else {
          expect(total === undefined || total === 0).toBe(true);
        }
        expect(view.text).not.toMatch(NONSENSE);
      }
    }
  });
});
