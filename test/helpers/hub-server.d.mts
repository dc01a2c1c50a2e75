// Types of hub-server.mjs: the shared server's (scripts/hub-server.d.mts) plus the fixture repos.
import type { HubServer, HubServerOptions } from '../../scripts/hub-server.d.mts';

export type { HubBodyPlan, HubBodyRequest, HubRequest, HubServer, HubServerOptions } from '../../scripts/hub-server.d.mts';
export { parseRange } from '../../scripts/hub-server.d.mts';

/** Folder of the hub fixtures (test/fixtures/hub/). */
export const HUB_FIXTURES: string;

/** `test-org/tiny-<folder>` → folder, for every folder of test/fixtures/hub. */
export function fixtureRepos(): Record<string, string>;

/** The shared server; `repos` defaults to fixtureRepos(). */
export function startHubServer(options?: HubServerOptions): Promise<HubServer>;
