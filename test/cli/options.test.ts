/** The option-parser pieces the commands and the defaults objects lean on. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { asDefault, int, list, parseOptions, str, withDefaults, UsageError } from '../../src/util/options.js';
import { STAGE1_DEFAULTS } from '../../src/train/defaults.js';

describe('option helpers', () => {
  it('withDefaults: a given option wins, one passed as undefined keeps its default (as ?? did)', () => {
    const d = { a: 1, b: 'x', c: [1, 2] };
    assert.deepEqual(withDefaults(d, { a: undefined, b: 'y' }), { a: 1, b: 'y', c: [1, 2] });
    assert.deepEqual(withDefaults(d, { a: 0, c: [] as number[], extra: true }), { a: 0, b: 'x', c: [], extra: true });
    assert.equal(withDefaults(STAGE1_DEFAULTS, { m: undefined }).m, STAGE1_DEFAULTS.m);
  });

  it('asDefault writes what the parsers read back', () => {
    assert.equal(asDefault([10, 50, 100]), '10,50,100');
    assert.deepEqual(list(int())(asDefault([10, 50, 100])), [10, 50, 100]);
    assert.equal(asDefault(3e-3), '0.003');
    assert.equal(asDefault('attention'), 'attention');
  });

  it('int and list name what they expected', () => {
    assert.throws(() => int()('ten'), /expected a positive integer, got "ten"/);
    assert.throws(() => int(0)('-1'), /expected a non-negative integer, got "-1"/);
    assert.throws(() => int(0, 9)('10'), /expected an integer in \[0, 9\], got "10"/);
    assert.throws(() => list(int())(' , '), /expected a comma-separated list/);
    assert.deepEqual(list(str(), ';')('below 10, look-alike only; off'), ['below 10, look-alike only', 'off']);
    assert.throws(() => list(str(), ';')(' ; '), /expected a ";"-separated list/);
  });

  it('parseOptions: defaults fill absent options, `given` holds what the command line set', () => {
    const table = {
      n: { flag: 'n', arg: 'N', default: '3', help: 'n', parse: int() },
      ks: { flag: 'ks', arg: 'K,…', help: 'ks', parse: list(int()) },
    } as const;
    const p = parseOptions(['--ks', '1,2', 'pos'], table);
    assert.deepEqual(p.values, { n: 3, ks: [1, 2] });
    assert.deepEqual([...p.given], ['ks']);
    assert.deepEqual(p.positionals, ['pos']);
    assert.throws(() => parseOptions(['--n', 'x'], table), (e: unknown) => e instanceof UsageError && /^--n: expected a positive integer/.test(e.message));
  });
});
