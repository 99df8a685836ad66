/** `ralm info`: what this host offers (WebGPU adapter and limits, CPU) and the default model. */
import { loadModel } from '../../model/model.js';
import { probeAdapter } from '../../engine/probe.js';
import { defaultModelDir } from '../../util/paths.js';
import { defineCommand } from '../command.js';
import { emit } from '../output.js';

export const command = defineCommand({
  name: 'info',
  usage: 'info [--json]',
  summary: 'Prints this host\'s backends (WebGPU adapter and limits, CPU) and the default model.',
  options: {},
  async run({ values }) {
    const adapter = await probeAdapter();
    let model: unknown = null;
    let modelText = '';
    try {
      const m = await loadModel(defaultModelDir);
      model = m.manifest;
      modelText = `default model: ${m.manifest.modelVersion} (h=${m.manifest.h}, m=${m.manifest.m}, k=${m.manifest.k}, ${m.manifest.provenance.kind})`;
    } catch (err) {
      modelText = `default model: not loadable (${(err as Error).message})`;
    }
    const text = [
      adapter.available
        ? `webgpu: ${adapter.name}${adapter.software ? ' (software rasteriser: correct, but slow)' : ''}\n  limits: ${Object.entries(adapter.limits ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`
        : 'webgpu: no adapter (the cpu backend will be used)',
      'cpu: always available',
      modelText,
    ].join('\n');
    emit(values.json, { webgpu: adapter, cpu: { available: true }, defaultModel: model }, text);
  },
});
