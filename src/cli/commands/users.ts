/** `ralm users import`: store the users `ralm train` exported, embedded under the store's model. */
import { resolve } from 'node:path';
import { loadModel } from '../../model/model.js';
import { RalmError } from '../../util/errors.js';
import { UsageError } from '../../util/options.js';
import { defineCommand, type CommandGroup } from '../command.js';
import { emit } from '../output.js';
import { openCommandStore, STORE_OPTIONS, storeSpec } from '../shared-options.js';

const BATCH = 4096;

const importUsers = defineCommand({
  name: 'users import',
  usage: 'users import FILE [--data-dir DIR | --store SPEC] [--model-dir DIR]',
  summary: 'Stores the users of a users.msgpack file (from ralm train), embedded with the model.',
  options: STORE_OPTIONS,
  positionals: true,
  async run({ values: v, positionals, given }) {
    if (positionals.length !== 1) throw new UsageError('users import: give one users.msgpack file');
    storeSpec('users import', v, given);
    const { readUsers } = await import('../../train/pipeline.js');
    const { RalmEngine } = await import('../../engine/engine.js');
    const { SeedService } = await import('../../seeds/seed-service.js');
    const file = await readUsers(resolve(positionals[0]));
    const model = await loadModel(v.modelDir);
    if (file.m !== model.manifest.m) throw new RalmError('RALM_ERR_DIMENSION', `${positionals[0]}: embeddings of width ${file.m}, the model takes m = ${model.manifest.m}`);
    const store = await openCommandStore('users import', v, given);
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    const t0 = performance.now();
    try {
      const seeds = new SeedService(store, engine);
      const m = file.m;
      for (let b = 0; b < file.ids.length; b += BATCH) {
        const ids = file.ids.slice(b, b + BATCH);
        await seeds.putUsers(ids.map((id, i) => ({ id, universal: file.universal.subarray((b + i) * m, (b + i + 1) * m) })));
        if (!v.json) process.stderr.write(`\rstored ${Math.min(file.ids.length, b + BATCH)} / ${file.ids.length}`);
      }
      if (!v.json) process.stderr.write('\n');
    } finally {
      await engine.close();
      await store.close();
    }
    const doc = { users: file.ids.length, fileModelVersion: file.modelVersion, modelVersion: model.manifest.modelVersion, seconds: (performance.now() - t0) / 1000 };
    emit(v.json, doc, `stored ${doc.users} users (embedded under ${doc.modelVersion}${doc.fileModelVersion !== doc.modelVersion ? `; the file was written by ${doc.fileModelVersion}` : ''}) in ${doc.seconds.toFixed(1)} s`);
  },
});

export const command: CommandGroup = {
  kind: 'group', name: 'users', noun: 'subcommand',
  summary: 'Users in the store (embedded, or shared by replicas).',
  subcommands: { import: importUsers },
};
