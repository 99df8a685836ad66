/** `ralm eval [recommend]` and `ralm eval audience`: RALM measured against its ablations and baselines. */
import { resolve } from 'node:path';
import { AUDIENCE_EVAL_DEFAULTS, LEVEL_SWEEP, mergeRows, METHODS, RECOMMEND_EVAL_DEFAULTS } from '../../eval/defaults.js';
import { defaultHidden, STAGE1_DEFAULTS, TRAIN_DEFAULTS } from '../../train/defaults.js';
import { asDefault, bool, int, list, num, oneOf, share, str, UsageError, type OptionTable } from '../../util/options.js';
import { defineCommand, type CommandGroup } from '../command.js';
import { emit, log, writeResult, writeText } from '../output.js';
import { DATASET_OPTIONS, DATASET_WITH_DEFAULT, datasetFrom, LEAKAGE_OPTION, showRead, SYNTHETIC_ONLY, SYNTHETIC_OPTIONS, syntheticSize } from '../shared-options.js';
import { TRAINING_OPTIONS, trainingStageOptions, withDatasetDefaults } from '../training-options.js';

const r = RECOMMEND_EVAL_DEFAULTS;

const RECOMMEND_OPTIONS = {
  ...DATASET_OPTIONS,
  dataset: DATASET_WITH_DEFAULT,
  split: { flag: 'split', arg: 'global|per-user', defaultText: 'per-user for movielens, else global', help: 'one cut by time for everyone, or each user\'s own', parse: oneOf(['global', 'per-user'] as const) },
  allowFeatureLeakage: LEAKAGE_OPTION,
  trainShare: { flag: 'train-share', arg: 'X', default: asDefault(r.trainShare), help: 'share of the rows (or of each user\'s rows) before the cut', parse: share },
  seeds: { flag: 'seeds', arg: 'N,…', default: asDefault(r.seeds), help: 'training seeds; every method is trained once per seed', parse: list(int()) },
  maxUsers: { flag: 'max-users', arg: 'N', default: asDefault(r.maxUsers), help: 'evaluate a fixed seeded sample of this many users (0: all)', parse: int(0) },
  minTrainClicks: { flag: 'min-train-clicks', arg: 'N', default: asDefault(r.minTrainClicks), help: 'candidates need this many training clicks', parse: int() },
  ks: { flag: 'ks', arg: 'K,…', default: asDefault(r.ks), help: 'list lengths for prec@K, recall@K, coverage and diversity', parse: list(int()) },
  aucNegatives: { flag: 'auc-negatives', arg: 'N', default: asDefault(r.aucNegatives), help: 'negatives per test click for AUC', parse: int() },
  maxSeeds: { flag: 'max-seeds', arg: 'N', default: asDefault(r.maxSeeds), help: 'seeds clustered per candidate at most (sampled)', parse: int() },
  ...TRAINING_OPTIONS,
  merge: { flag: 'merge', arg: 'attention|concat', default: STAGE1_DEFAULTS.merge, help: 'how the RALM rows\' stage 1 merges the fields (the merge ablation row uses the other)', parse: oneOf(['attention', 'concat'] as const) },
  baselineEpochs: { flag: 'baseline-epochs', arg: 'N', defaultText: '--epochs', help: 'stage 1 epochs of the YouTube-DNN-style baseline\'s own tower (when RALM\'s differ)', parse: int(0) },
  validation: { flag: 'validation', boolean: true, help: 'evaluate on the validation split of the training period (no test row is read)', parse: bool },
  priorSweep: { flag: 'prior-sweep', arg: 'X,…', defaultText: 'none', help: 'also evaluate the trained RALM served with each of these popularity-prior weights λ (rows "RALM (λ = X)"; with --validation: how each protocol moves with λ, on no test row)', parse: list(num(-10, 10)) },
  methods: { flag: 'methods', arg: 'NAME,…', defaultText: 'all', help: `methods to run, of: ${METHODS.join('; ')}`, parse: list(oneOf(METHODS)) },
  freshWindow: { flag: 'fresh-window', arg: 'HOURS', defaultText: '24 (global split), 8760 (per-user)', help: 'fresh candidates: first clicked this many hours before a request (0: skip)', parse: num(0) },
  freshMinSeeds: { flag: 'fresh-min-seeds', arg: 'N', default: asDefault(r.freshMinSeeds), help: 'fresh candidates need this many clickers before the request', parse: int() },
  seedCounts: { flag: 'seed-counts', arg: 'N,…', default: asDefault(r.seedCounts), help: 'new items: evaluate after each of these numbers of seeds', parse: list(int()) },
  newItemSeeds: { flag: 'new-item-seeds', arg: 'known|any', default: r.newItemSeeds, help: 'new items: seeds are those of the first n clickers known before the cut, or all n', parse: oneOf(['known', 'any'] as const) },
  itemLevels: { flag: 'item-levels', arg: 'on|off', default: 'on', help: 'publish every RALM row\'s items with their level offsets, as served (docs/quality.md)', parse: oneOf(['on', 'off'] as const) },
  freshItemLevels: { flag: 'fresh-item-levels', arg: 'on|off', default: 'on', help: 'fresh candidates: RALM rows\' requests keep the level offsets, or leave them out as a feed of fresh items only may (itemLevels: false)', parse: oneOf(['on', 'off'] as const) },
  newItemPlacebo: { flag: 'new-item-placebo', boolean: true, help: 'new items: also score each RALM row\'s placebo, the item published from as many random known users', parse: bool },
  levelSweep: { flag: 'level-sweep', boolean: true, help: 'also evaluate the trained RALM under each level-offset policy (rows "RALM (levels: …)"; with --validation: on no test row)', parse: bool },
  levelPolicies: { flag: 'level-policies', arg: 'NAME;…', defaultText: 'all', help: `with --level-sweep, only these policies (names hold commas: separate them by semicolons), of: ${Object.keys(LEVEL_SWEEP).join('; ')}`, parse: list(oneOf(Object.keys(LEVEL_SWEEP)), ';') },
  newItems: { flag: 'new-items', arg: 'N', default: asDefault(r.newItemsMax), help: 'new items evaluated at most (sampled)', parse: int() },
  ...SYNTHETIC_OPTIONS,
  out: { flag: 'out', arg: 'FILE.json', help: 'write the result (JSON)', parse: str() },
  report: { flag: 'report', arg: 'FILE.md', help: 'write the report (Markdown)', parse: str() },
} as const satisfies OptionTable;

const recommend = defineCommand({
  name: 'eval recommend',
  usage: 'eval [recommend] [--dataset schema] SCHEMA.json | --dataset movielens|globo|synthetic [--data DIR] [options]',
  summary: 'RALM, its ablations and baselines on a temporal split, trained once per seed.',
  notes: ['Reports AUC, prec@K (the paper\'s), recall@K, long tail, coverage and diversity, and new items after n seeds.',
    'movielens and globo: training settings not given are that dataset\'s validation-search choices (docs/training-and-evaluation.md).'],
  options: RECOMMEND_OPTIONS,
  positionals: true,
  async run({ values, positionals, given }) {
    const data = datasetFrom('eval', values, positionals, given, resolve, SYNTHETIC_ONLY);
    const v = withDatasetDefaults(data.kind, values, given, RECOMMEND_OPTIONS);
    const m = v.m;
    const { itself, ablation } = mergeRows(v.merge);
    if (v.methods?.includes(itself)) throw new UsageError(`--methods: "${itself}" is RALM itself with --merge ${v.merge}; the merge ablation is "${ablation}"`);
    const { evalRecommend } = await import('../../eval/recommend-eval.js');
    const { ProgressBar } = await import('../../train/progress.js');
    const bar = new ProgressBar();
    const stages = trainingStageOptions(v);
    const res = await evalRecommend({
      data: { ...data, synthetic: syntheticSize(v), allowFeatureLeakage: v.allowFeatureLeakage, onRead: showRead },
      split: v.split, trainShare: v.trainShare, validation: v.validation, priorSweep: v.priorSweep, itemLevels: v.itemLevels === 'off' ? false : undefined, freshItemLevels: v.freshItemLevels === 'on', levelSweep: v.levelSweep, levelPolicies: v.levelPolicies, newItemPlacebo: v.newItemPlacebo, baselineEpochs: given.has('epochs') && !given.has('baseline-epochs') ? undefined : v.baselineEpochs, seeds: v.seeds, maxUsers: v.maxUsers, methods: v.methods,
      freshWindowMs: v.freshWindow === undefined ? undefined : v.freshWindow * 3_600_000, freshMinSeeds: v.freshMinSeeds,
      minTrainClicks: v.minTrainClicks, ks: v.ks, aucNegatives: v.aucNegatives, maxSeeds: v.maxSeeds,
      stage1: { m, hidden: defaultHidden(m), merge: v.merge, epochs: v.epochs, patience: v.patience, validationShare: v.validationShare, maxTrainUsers: v.maxTrainUsers, ...stages.stage1 },
      stage2: { h: m, k: v.k, epochs: v.stage2Epochs, learningRate: v.stage2Lr, patience: TRAIN_DEFAULTS.stage2.patience, maxItems: v.stage2MaxItems, ...stages.stage2 },
      seedCounts: v.seedCounts, newItemSeeds: v.newItemSeeds, newItemsMax: v.newItems,
      log: (l) => bar.log(l), onProgress: (p) => bar.update(p),
    });
    await writeResult(v.out, { ...res, markdown: undefined });
    await writeText(v.report, res.markdown);
    emit(v.json, { ...res, markdown: undefined }, [
      `${res.dataset}${res.evaluatedOn === 'validation' ? ' (validation split of the training period)' : ''}: ${res.split.kind} split at ${res.split.cut}; ${res.context.users} users × ${res.context.candidates} candidates; ${res.split.newItems} new items; ${res.settings.seeds ? (res.settings.seeds as number[]).length : 0} seeds; ${res.seconds.toFixed(0)} s`,
      '', res.markdown,
    ].join('\n'));
  },
});

const a = AUDIENCE_EVAL_DEFAULTS;

// The audience evaluation reads clicks only: Globo.com's user-value rule has nothing to choose.
const { userValue: _userValue, ...CLICK_LOG_OPTIONS } = DATASET_OPTIONS;

const AUDIENCE_OPTIONS = {
  ...CLICK_LOG_OPTIONS,
  dataset: { ...DATASET_OPTIONS.dataset, help: `${DATASET_OPTIONS.dataset.help} (required)` },
  items: { flag: 'items', arg: 'N', default: asDefault(a.items), help: 'items evaluated (sampled)', parse: int() },
  minClickers: { flag: 'min-clickers', arg: 'N', default: asDefault(a.minClickers), help: 'evaluated items have at least this many clickers', parse: int() },
  maxClickers: { flag: 'max-clickers', arg: 'N', default: asDefault(a.maxClickers), help: 'and at most this many', parse: int() },
  hide: { flag: 'hide', arg: 'X', default: asDefault(a.hideShare), help: 'share of each item\'s clickers hidden (the rest are its seeds)', parse: share },
  rank: { flag: 'rank', arg: 'N', default: asDefault(a.rank), help: 'rank of the SVD user embeddings', parse: int() },
  ns: { flag: 'ns', arg: 'N,…', default: asDefault(a.ns), help: 'audience sizes for recall@N and precision@N', parse: list(int()) },
  ks: { flag: 'ks', arg: 'K,…', default: asDefault(a.ks), help: 'centroids per seed set (one RALM row each)', parse: list(int()) },
  seed: { flag: 'seed', arg: 'N', default: asDefault(a.seed), help: 'random seed (and the synthetic log\'s)', parse: int() },
  seeds: { flag: 'seeds', arg: 'N,…', help: 'run once per seed and report mean ± SD over them (instead of --seed)', parse: list(int()) },
  backend: { flag: 'backend', arg: 'cpu|webgpu', default: asDefault(a.backend), help: 'compute backend', parse: oneOf(['cpu', 'webgpu'] as const) },
  trainEpochs: { flag: 'train-epochs', arg: 'N', default: asDefault(a.trainEpochs), help: 'also train stage 2 on the visible clicks for this many epochs at most (0: off)', parse: int(0) },
  trainNegatives: { flag: 'train-negatives', arg: 'uniform|activity', default: asDefault(a.trainNegatives), help: 'how that training draws negatives', parse: oneOf(['uniform', 'activity'] as const) },
  trainMaxItems: { flag: 'train-max-items', arg: 'N', default: asDefault(a.trainMaxItems), help: 'that training uses a seeded sample of this many items (0: all)', parse: int(0) },
  trainLoss: { flag: 'train-loss', arg: 'softmax|bce', default: a.trainLoss, help: 'that training\'s loss over a target and its negative users', parse: oneOf(['softmax', 'bce'] as const) },
  trainParams: { flag: 'train-params', arg: 'all|attention,…', default: asDefault(a.trainParams), help: 'which weights that training updates (attention: all but the transform T); several: each trained, the best on held-out items kept', parse: list(oneOf(['all', 'attention'] as const)) },
  trainLr: { flag: 'train-lr', arg: 'X', default: asDefault(a.trainLr), help: 'that training\'s Adam learning rate', parse: num(0, 1, { min: true }) },
  trainBlend: { flag: 'train-blend', arg: 'fixed|learned', default: a.trainBlend, help: 'whether that training learns the blend α, β', parse: oneOf(['fixed', 'learned'] as const) },
  out: { flag: 'out', arg: 'FILE', help: 'write the result (JSON)', parse: str() },
} as const satisfies OptionTable;

const audience = defineCommand({
  name: 'eval audience',
  usage: 'eval audience [--dataset schema] SCHEMA.json | --dataset movielens|globo|synthetic [--data DIR] [options]',
  summary: 'Hides some clickers of sampled items, expands the rest: recall@N and precision@N.',
  notes: [
    'RALM against averaged seeds and most active users; the rest of each item\'s clickers are its seeds.',
    'Reads the clicks only (no user fields, no time split); synthetic is a planted log drawn from --seed.',
  ],
  options: AUDIENCE_OPTIONS,
  positionals: true,
  async run({ values: v, positionals, given }) {
    const data = datasetFrom('eval audience', v, positionals, given, resolve);
    for (const flag of ['train-negatives', 'train-loss', 'train-max-items', 'train-params', 'train-lr', 'train-blend']) {
      if (given.has(flag) && v.trainEpochs === 0) throw new UsageError(`eval audience: --${flag} applies when --train-epochs is above 0`);
    }
    const { openClickLog } = await import('../../data/open.js');
    const { evalAudience, summarizeAudience } = await import('../../eval/audience-eval.js');
    const clicks = await openClickLog({ ...data, seed: v.seed, onRead: showRead });
    const opts = {
      rank: v.rank, hideShare: v.hide, items: v.items, minClickers: v.minClickers, maxClickers: v.maxClickers,
      ns: v.ns, ks: v.ks, backend: v.backend, trainEpochs: v.trainEpochs, trainNegatives: v.trainNegatives, trainLoss: v.trainLoss, trainMaxItems: v.trainMaxItems,
      trainParams: v.trainParams, trainLr: v.trainLr, trainBlend: v.trainBlend, log,
    };
    if (v.seeds !== undefined) {
      const runs = [];
      for (const seed of v.seeds) runs.push(await evalAudience(clicks, { ...opts, seed }));
      const sum = summarizeAudience(runs);
      await writeResult(v.out, sum);
      const head = `method              ${runs[0].settings.ns.map((n) => `recall@${n}`.padStart(18)).join('')}`;
      const rows = sum.summary.map((m) => m.method.padEnd(20) + m.atN.map((x) => `${x.recall.mean.toFixed(3)} ±${x.recall.sd.toFixed(3)}`.padStart(18)).join(''));
      emit(v.json, sum, [`${sum.dataset}: ${v.seeds.length} seeds, mean ± SD over seeds`, head, ...rows].join('\n'));
      return;
    }
    const res = await evalAudience(clicks, { ...opts, seed: v.seed });
    await writeResult(v.out, res);
    const head = `method              ${res.settings.ns.map((n) => `recall@${n}`.padStart(16) + `prec@${n}`.padStart(16)).join('')}`;
    const rows = res.methods.map((m) => m.method.padEnd(20) + m.atN.map((x) => `${x.recall.toFixed(3)} ±${x.recallSe.toFixed(3)}`.padStart(16) + `${x.precision.toFixed(3)} ±${x.precisionSe.toFixed(3)}`.padStart(16)).join(''));
    emit(v.json, res, [
      `${res.dataset}: ${res.data.evalItems} items, ${res.data.hiddenClicks} hidden clicks, seeds per item median ${res.data.seedsPerItem.median} (${res.data.seedsPerItem.min}–${res.data.seedsPerItem.max}); embeddings: ${res.settings.embeddings}; RALM weights: ${res.settings.ralmWeights}`,
      head, ...rows,
    ].join('\n'));
  },
});

export const command: CommandGroup = {
  kind: 'group', name: 'eval', noun: 'evaluation', fallback: 'recommend',
  summary: 'Offline evaluations: recommendation (the default) and audience expansion.',
  subcommands: { recommend, audience },
};
