// `npm run demo` opens the page, as the README's quick start says, except where no one looks (CI).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import config, { opensBrowser } from '../../demo/vite.config';

describe('the demo server opens a browser', () => {
  it('on a desktop, not under CI', () => {
    expect(opensBrowser({})).toBe(true);
    expect(opensBrowser({ CI: 'false' })).toBe(true);
    expect(opensBrowser({ CI: 'true' })).toBe(false);
    expect(opensBrowser({ CI: '1' })).toBe(false);
  });

  it('is what the config asks of `vite` (npm run demo) in this environment', () => {
    const server = (config as { server?: { open?: unknown } }).server;
    expect(server?.open).toBe(opensBrowser(process.env));
  });

  it('agrees with both READMEs: the quick start says it opens the demo, the demo README how to stop that', () => {
    const quickStart = readFileSync(new URL('../../README.md', import.meta.url), 'utf8').split('\n').find((l) => l.includes('npm run demo'));
    expect(quickStart).toMatch(/npm run demo\s+# opens /);
    const demoReadme = readFileSync(new URL('../../demo/README.md', import.meta.url), 'utf8');
    expect(demoReadme).toMatch(/npm run demo\s+# .*opens it in your browser/);
    expect(demoReadme).toContain('BROWSER=none');
  });
});
