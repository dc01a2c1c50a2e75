// The hub-shaped server of scripts/hub-server.mjs (shared with the load benchmark), serving the test
// fixtures by default: test/fixtures/hub/<folder> as test-org/tiny-<folder>.
// Run alone: `node test/helpers/hub-server.mjs [port]`. Types: hub-server.d.mts.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startHubServer as startServer } from '../../scripts/hub-server.mjs';

export { parseRange } from '../../scripts/hub-server.mjs';

export const HUB_FIXTURES = fileURLToPath(new URL('../fixtures/hub/', import.meta.url));

/** `test-org/tiny-<folder>` for every folder of test/fixtures/hub (e.g. test-org/tiny-bin-sharded). */
export function fixtureRepos() {
  /** @type {Record<string, string>} */
  const repos = {};
  for (const name of readdirSync(HUB_FIXTURES).sort()) {
    if (statSync(join(HUB_FIXTURES, name)).isDirectory()) repos[`test-org/tiny-${name}`] = join(HUB_FIXTURES, name);
  }
  return repos;
}

/** scripts/hub-server.mjs's server; without `repos`, the fixture repos. @param {import('./hub-server.d.mts').HubServerOptions} [options] */
export function startHubServer(options = {}) {
  return startServer({ ...options, repos: options.repos ?? fixtureRepos() });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const hub = await startHubServer({ port: Number(process.argv[2] ?? 0) });
  console.log(`hub server at ${hub.url}; repos: ${Object.keys(fixtureRepos()).join(', ')}`);
}
