/// <reference types="vite/client" />
// The shipped models, listed by demo/models-plugin.ts.
declare module 'virtual:shipped-models' {
  import type { ShippedModel } from '../models-plugin';
  const models: ShippedModel[];
  export default models;
}
