/// <reference types="vite/client" />
// The shipped models, listed by demo/models-plugin.ts.
declare module 'virtual:shipped-models' {
  import type { ShippedModel } from '../models-plugin';
  const models: ShippedModel[];
  export default models;
}

interface ImportMetaEnv {
  /** The hub host for hub ids when the page's address has no ?hub= (a mirror, or a local server in tests). */
  readonly VITE_HUB_HOST?: string;
}
