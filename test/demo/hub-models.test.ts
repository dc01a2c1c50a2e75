// The demo's hub catalogue and its page parameters (no GPU, no browser).
import { describe, expect, it } from 'vitest';
import { CONFIRM_ABOVE_BYTES, DEFAULT_HUB, HUB_MODELS, formatDownload, hubSettings } from '../../demo/src/hub-models';

describe('hub models offered by the demo', () => {
  it('lists small, medium and large with sizes that match their float32 checkpoints', () => {
    // f32 parameters (untied head, n_inner = 4E) plus each layer's 1024×1024 uint8 attn.bias buffer.
    const bytes = (E: number, L: number) => {
      const V = 513;
      const P = 1024;
      const block = 2 * E + E * 3 * E + 3 * E + E * E + E + E * 4 * E + 4 * E + 4 * E * E + E;
      const params = V * E + P * E + L * block + E + (V - 1) * E;
      return params * 4 + L * P * P;
    };
    const expected: Record<string, number> = {
      'openai/imagegpt-small': bytes(512, 24),
      'openai/imagegpt-medium': bytes(1024, 36),
      'openai/imagegpt-large': bytes(1536, 48),
    };
    expect(HUB_MODELS.map((m) => m.id)).toEqual(Object.keys(expected));
    for (const m of HUB_MODELS) {
      // The listed sizes come from the hub; the pickle's own bytes add well under 1 %.
      expect(Math.abs(m.downloadBytes! / expected[m.id] - 1)).toBeLessThan(0.01);
      expect(m.downloadBytes!).toBeGreaterThan(CONFIRM_ABOVE_BYTES);
    }
  });

  it('formats sizes as the hub lists them', () => {
    expect(HUB_MODELS.map((m) => formatDownload(m.downloadBytes!))).toEqual(['332 MB', '1.86 GB', '5.5 GB']);
  });
});

describe('hubSettings (?hub= and ?hubModels=)', () => {
  it('defaults to the library default host and no extra models', () => {
    expect(hubSettings('', undefined)).toEqual({ host: undefined, extra: [], problems: [] });
  });

  it('takes ?hub= over the build variable, without a trailing slash', () => {
    expect(hubSettings('?hub=http://127.0.0.1:8123/', 'https://mirror.example').host).toBe('http://127.0.0.1:8123');
    expect(hubSettings('', 'https://mirror.example').host).toBe('https://mirror.example');
  });

  it('reports a hub address that is not http(s) instead of ignoring it', () => {
    const s = hubSettings('?hub=ftp://x', undefined);
    expect(s.host).toBeUndefined();
    expect(s.problems).toEqual([`the hub address "ftp://x" is not an http(s) URL, so ${DEFAULT_HUB} is used`]);
  });

  it('adds extra hub ids once, and reports malformed ones', () => {
    const s = hubSettings('?hubModels=test-org/tiny-bin,,test-org/tiny-bin,openai/imagegpt-small,../etc,noslash', undefined);
    expect(s.extra).toEqual([{ id: 'test-org/tiny-bin' }]);
    expect(s.problems).toEqual([
      '"../etc" in hubModels is not a hub id like org/name',
      '"noslash" in hubModels is not a hub id like org/name',
    ]);
  });
});
