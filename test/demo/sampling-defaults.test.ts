// A shipped model's sampling defaults: its generation_config.json, read by the demo's models plugin.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listShippedModels, readSamplingDefaults } from '../../demo/models-plugin';

function configFile(json: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'sampling-')), 'generation_config.json');
  writeFileSync(path, JSON.stringify(json));
  return path;
}

describe('sampling defaults from generation_config.json', () => {
  it('reads temperature and top_k (0 = off); a folder without the file has none', () => {
    expect(readSamplingDefaults(configFile({ do_sample: true, temperature: 0.85, top_k: 0 }))).toEqual({ temperature: 0.85, topK: 0 });
    expect(readSamplingDefaults(join(tmpdir(), 'no-such-folder', 'generation_config.json'))).toBeUndefined();
  });

  it('refuses values the sliders cannot show, naming the file and the field', () => {
    expect(() => readSamplingDefaults(configFile({ temperature: 3, top_k: 40 }))).toThrow(/generation_config\.json: "temperature" is 3, expected a number from 0 to 2/);
    expect(() => readSamplingDefaults(configFile({ temperature: '1', top_k: 40 }))).toThrow(/"temperature" is "1"/);
    expect(() => readSamplingDefaults(configFile({ temperature: 1, top_k: 40.5 }))).toThrow(/"top_k" is 40.5, expected an integer from 0 \(off\) to 512/);
    expect(() => readSamplingDefaults(configFile({ temperature: 1 }))).toThrow(/"top_k" is undefined/);
  });

  it('every shipped model has defaults within the sliders', () => {
    const models = listShippedModels(join(__dirname, '..', '..', 'models'));
    expect(models.map((m) => m.id)).toEqual(expect.arrayContaining(['emoji-16', 'emoji-32']));
    for (const m of models) expect(m.sampling, m.id).toBeDefined();
  });
});
