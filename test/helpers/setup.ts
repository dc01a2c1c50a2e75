// Runs in every test file: release the WebGPU device once the file's tests are done.
import { afterAll } from 'vitest';
import { releaseTestDevice } from './gpu';

afterAll(async () => {
  await releaseTestDevice();
});
