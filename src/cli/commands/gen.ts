/** `ralm gen`: a synthetic dataset with planted topics, in the generic format. */
import { resolve } from 'node:path';
import { generateSynthetic, SYNTHETIC_DEFAULTS, writeSynthetic } from '../../data/synthetic.js';
import { asDefault, int, num, str } from '../../util/options.js';
import { defineCommand } from '../command.js';
import { emit } from '../output.js';

const d = SYNTHETIC_DEFAULTS;

export const command = defineCommand({
  name: 'gen',
  usage: 'gen [--out DIR] [options]',
  summary: 'A synthetic dataset with planted topics, in the generic format (and truth.json).',
  notes: ['Prints its summary; --out DIR writes schema.json, users.csv, items.csv, clicks.csv and truth.json.'],
  options: {
    out: { flag: 'out', arg: 'DIR', defaultText: 'nothing written', help: 'folder to write the dataset into', parse: str() },
    seed: { flag: 'seed', arg: 'N', default: asDefault(d.seed), help: 'generator seed', parse: int() },
    users: { flag: 'users', arg: 'N', default: asDefault(d.users), help: 'users', parse: int() },
    items: { flag: 'items', arg: 'N', default: asDefault(d.items), help: 'items', parse: int() },
    topics: { flag: 'topics', arg: 'N', default: asDefault(d.topics), help: 'planted topics', parse: int() },
    fields: { flag: 'fields', arg: 'N', default: asDefault(d.fields), help: 'user feature fields', parse: int() },
    days: { flag: 'days', arg: 'N', default: asDefault(d.days), help: 'days of clicks', parse: int() },
    clicksPerUser: { flag: 'clicks-per-user', arg: 'X', default: asDefault(d.clicksPerUser), help: 'mean clicks per user', parse: num() },
    newItemRate: { flag: 'new-item-rate', arg: 'X', default: asDefault(d.newItemRate), help: 'share of items released during the period rather than at its start', parse: num() },
    zipf: { flag: 'zipf', arg: 'X', default: asDefault(d.zipf), help: 'Zipf exponent of item popularity', parse: num() },
    noise: { flag: 'noise', arg: 'X', default: asDefault(d.noise), help: 'share of clicks that ignore the user\'s topics', parse: num() },
  },
  async run({ values: v }) {
    const world = generateSynthetic({
      seed: v.seed, users: v.users, items: v.items, topics: v.topics, fields: v.fields, days: v.days,
      clicksPerUser: v.clicksPerUser, newItemRate: v.newItemRate, zipf: v.zipf, noise: v.noise,
    });
    const files = v.out !== undefined ? await writeSynthetic(world, resolve(v.out)) : [];
    const summary = world.dataset.summary();
    emit(v.json, { files, options: world.truth.options, fields: world.truth.fields, summary }, [
      `synthetic (seed ${world.truth.options.seed}): ${summary.users} users, ${summary.items} items, ${summary.clicks} clicks over ${world.truth.options.days} days, ${world.truth.options.topics} topics`,
      `  user fields: ${world.truth.fields.map((f) => `${f.name} (${f.type}, signal ${f.signal})`).join(', ')}`,
      files.length ? files.map((f) => `wrote ${f}`).join('\n') : '  (nothing written; --out DIR writes the files)',
    ].join('\n'));
  },
});
