/** `ralm model inspect|init`: check a model directory, or write a seeded-random placeholder. */
import { resolve } from 'node:path';
import { loadModel, saveModel } from '../../model/model.js';
import { RANDOM_MODEL_DEFAULTS, randomModel } from '../../model/random.js';
import { defaultModelDir } from '../../util/paths.js';
import { asDefault, int, num, str, UsageError } from '../../util/options.js';
import { defineCommand, type CommandGroup } from '../command.js';
import { emit } from '../output.js';

const inspect = defineCommand({
  name: 'model inspect',
  usage: 'model inspect [DIR] [--json]',
  summary: 'Loads and validates a model directory (default: the shipped weights/default).',
  options: {},
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError('model inspect: give at most one model directory');
    const dir = resolve(positionals[0] ?? defaultModelDir);
    const m = await loadModel(dir);
    const mf = m.manifest;
    emit(values.json, { dir, manifest: mf }, [
      `${dir}: valid`,
      `  version ${mf.modelVersion} (${mf.provenance.kind}${mf.provenance.dataset ? `, ${mf.provenance.dataset}` : ''})`,
      `  h=${mf.h} m=${mf.m} k=${mf.k} attention size=${mf.attentionSize} alpha=${mf.alpha} beta=${mf.beta}`,
      `  user fields: ${mf.userFields.length === 0 ? 'none' : mf.userFields.map((f) => `${f.name}:${f.kind}`).join(', ')}`,
      `  user tower: ${mf.userTower ? `${mf.userTower.merge} merge${mf.userTower.attentionSize ? ` (a=${mf.userTower.attentionSize})` : ''}, MLP ${mf.userTower.hidden.join('→')}` : 'none (users are given as ids or embeddings)'}`,
    ].join('\n'));
  },
});

const d = RANDOM_MODEL_DEFAULTS;

const init = defineCommand({
  name: 'model init',
  usage: 'model init --out DIR [options]',
  summary: 'Writes a model directory with seeded-random placeholder weights.',
  notes: ['For trying the service and the benchmarks; never a trained model.'],
  options: {
    out: { flag: 'out', arg: 'DIR', help: 'the model directory to write (required)', parse: str() },
    seed: { flag: 'seed', arg: 'N', default: asDefault(d.seed), help: 'random seed of the weights', parse: int() },
    h: { flag: 'h', arg: 'N', default: asDefault(d.h), help: 'embedding width h', parse: int() },
    m: { flag: 'm', arg: 'N', default: asDefault(d.m), help: 'universal embedding width m', parse: int() },
    k: { flag: 'k', arg: 'N', default: asDefault(d.k), help: 'centroids per item k', parse: int() },
    attentionSize: { flag: 'attention-size', arg: 'N', default: asDefault(d.attentionSize), help: 'rows of the global attention W_g', parse: int() },
    alpha: { flag: 'alpha', arg: 'X', default: asDefault(d.alpha), help: 'weight of the global cosine', parse: num() },
    beta: { flag: 'beta', arg: 'X', default: asDefault(d.beta), help: 'weight of the local cosine', parse: num() },
  },
  async run({ values: v }) {
    if (v.out === undefined) throw new UsageError('model init: --out DIR is required');
    const model = randomModel({ seed: v.seed, h: v.h, m: v.m, k: v.k, attentionSize: v.attentionSize, alpha: v.alpha, beta: v.beta });
    const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = model.manifest;
    const dir = resolve(v.out);
    const written = await saveModel(dir, { ...manifest, provenance: { ...manifest.provenance, createdAt: new Date().toISOString() } }, model.weights);
    emit(v.json, { dir, manifest: written }, `wrote ${dir} (${written.modelVersion}, seeded-random placeholder weights)`);
  },
});

export const command: CommandGroup = {
  kind: 'group', name: 'model', noun: 'subcommand',
  summary: 'Model directories: check one, or write a seeded-random placeholder.',
  subcommands: { inspect, init },
};
