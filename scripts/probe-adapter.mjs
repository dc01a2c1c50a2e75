#!/usr/bin/env node
// Prints the adapter Dawn (npm `webgpu`) gets in this environment, as one JSON line (vendor, architecture, device,
// description, isFallbackAdapter, subgroup sizes, the optional features the kernels use, the binding limit), or
// exits 1 saying there is none. Run it through with-webgpu.mjs (IMAGEGPT_ADAPTER=lavapipe to see lavapipe's);
// run-tests.mjs runs it before the lavapipe pass, so a Mesa that gives Dawn no adapter is named as the cause.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) {
  console.error(`no WebGPU adapter in Dawn (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'})`);
  process.exit(1);
}
const i = adapter.info;
const line = {
  vendor: i.vendor,
  architecture: i.architecture,
  device: i.device,
  description: i.description,
  isFallbackAdapter: i.isFallbackAdapter,
  subgroupSizes: [i.subgroupMinSize, i.subgroupMaxSize],
  features: ['shader-f16', 'subgroups', 'timestamp-query'].filter((f) => adapter.features.has(f)),
  maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
};
console.log(JSON.stringify(line));
// Dawn's threads can abort at exit while the instance is collected: leave at once (see node-webgpu.ts).
process.exit(0);
