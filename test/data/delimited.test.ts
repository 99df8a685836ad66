import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BAD_QUOTE, OPEN_QUOTE, delimiterFor, readDelimited, splitRecord } from '../../src/data/delimited.js';
import { ReadReport } from '../../src/data/report.js';
import { RalmError } from '../../src/util/errors.js';
import { tempFiles } from './helpers.js';

/** Reads a file, returning the header, the rows with their line numbers, and the report. */
async function readAll(path: string, report = new ReadReport({ maxBadShare: 1 })): Promise<{ header: string[]; rows: Array<[number, string[]]>; report: ReadReport }> {
  let header: string[] = [];
  const rows: Array<[number, string[]]> = [];
  await readDelimited(path, report, (h) => {
    header = h;
    return (f, line) => void rows.push([line, f]);
  });
  return { header, rows, report };
}

describe('splitRecord', () => {
  it('splits plain, quoted, doubled-quote and empty fields', () => {
    assert.deepEqual(splitRecord('a,b,c', ','), ['a', 'b', 'c']);
    assert.deepEqual(splitRecord('11,"American President, The (1995)",Comedy|Drama', ','), ['11', 'American President, The (1995)', 'Comedy|Drama']);
    assert.deepEqual(splitRecord('"say ""hi""",x', ','), ['say "hi"', 'x']);
    assert.deepEqual(splitRecord('"",,""', ','), ['', '', '']);
    assert.deepEqual(splitRecord('a,', ','), ['a', '']);
    assert.deepEqual(splitRecord('"a",', ','), ['a', '']);
    assert.deepEqual(splitRecord('5 o"clock,x', ','), ['5 o"clock', 'x'], 'a quote inside an unquoted field is literal');
    assert.deepEqual(splitRecord('a\t"b\tc"\td', '\t'), ['a', 'b\tc', 'd']);
  });

  it('says when a quoted field continues on the next line, and rejects text after a closing quote', () => {
    assert.equal(splitRecord('1,"two\nlines', ','), OPEN_QUOTE);
    assert.deepEqual(splitRecord('1,"two\nlines",3', ','), ['1', 'two\nlines', '3']);
    assert.equal(splitRecord('"a"b,c', ','), BAD_QUOTE);
  });

  it('chooses the delimiter from the format or the file name', () => {
    assert.equal(delimiterFor('x.tsv.gz'), '\t');
    assert.equal(delimiterFor('x.csv.gz'), ',');
    assert.equal(delimiterFor('x.txt', 'tsv'), '\t');
  });
});

describe('readDelimited', () => {
  it('reads CRLF, a BOM, quoted commas and a quoted line break, with physical line numbers', async () => {
    const t = await tempFiles({ 'a.csv': '\ufeffid,title,n\r\n1,"Hello, world",2\r\n2,"two\r\nlines",3\r\n\r\n3,plain,4' });
    try {
      const { header, rows, report } = await readAll(t.path('a.csv'));
      assert.deepEqual(header, ['id', 'title', 'n']);
      assert.deepEqual(rows, [[2, ['1', 'Hello, world', '2']], [3, ['2', 'two\nlines', '3']], [6, ['3', 'plain', '4']]]);
      assert.equal(report.rows, 3);
      assert.equal(report.blankLines, 1);
      assert.equal(report.badRows, 0);
    } finally {
      await t.done();
    }
  });

  it('gunzips .gz files and splits .tsv files on tabs', async () => {
    const t = await tempFiles({ 'a.tsv.gz': 'u\ti\tts\nx\ty, z\t5\n' });
    try {
      const { rows } = await readAll(t.path('a.tsv.gz'));
      assert.deepEqual(rows, [[2, ['x', 'y, z', '5']]]);
    } finally {
      await t.done();
    }
  });

  it('counts bad rows per reason with file:line, and keeps reading', async () => {
    const t = await tempFiles({ 'b.csv': 'a,b\n1,2\n1,2,3\n"x"y,2\n4\n5,6\n7,"never closed\n8,9\n' });
    try {
      const { rows, report } = await readAll(t.path('b.csv'));
      assert.deepEqual(rows.map((r) => r[0]), [2, 6]);
      const j = report.toJSON();
      assert.equal(j.badRows, 4);
      assert.deepEqual(j.bad['wrong number of fields (header has 2)'], { count: 2, first: ['b.csv:3', 'b.csv:5'] });
      assert.deepEqual(j.bad['text after a closing quote'], { count: 1, first: ['b.csv:4'] });
      assert.deepEqual(j.bad['unterminated quoted field'], { count: 1, first: ['b.csv:7'] }, 'the row starts where its quote opens');
      assert.equal(j.rows, 6);
      assert.match(report.describeBad(), /wrong number of fields \(header has 2\) ×2 \(b\.csv:3, b\.csv:5\)/);
    } finally {
      await t.done();
    }
  });

  it('fails on too many bad rows: at once past maxBadRows, at the end past maxBadShare', async () => {
    const t = await tempFiles({ 'c.csv': 'a,b\n1\n2\n3,4\n' });
    try {
      await assert.rejects(readAll(t.path('c.csv'), new ReadReport({ maxBadRows: 1 })), (e: RalmError) => e.code === 'RALM_ERR_VALIDATION' && /more than 1 bad rows.*c\.csv:3/.test(e.message));
      const { report } = await readAll(t.path('c.csv'), new ReadReport({ maxBadShare: 0.5 }));
      assert.throws(() => report.check(), /2 of 3 rows are bad \(66\.67 %, limit 50\.00 %\)/);
    } finally {
      await t.done();
    }
  });

  it('rejects an empty file and a missing file by name', async () => {
    const t = await tempFiles({ 'e.csv': '' });
    try {
      await assert.rejects(readAll(t.path('e.csv')), /e\.csv: empty, expected a header line/);
      await assert.rejects(readAll(t.path('nope.csv')), /nope\.csv: no such file/);
    } finally {
      await t.done();
    }
  });

  it('keeps a multi-byte character split across stream chunks intact', async () => {
    const title = 'Misérables, Les (1995)'.repeat(4000);
    const t = await tempFiles({ 'm.csv': `id,title\n1,"${title}"\n2,x\n` });
    try {
      const { rows } = await readAll(t.path('m.csv'));
      assert.equal(rows[0][1][1], title);
      assert.deepEqual(rows[1], [3, ['2', 'x']]);
    } finally {
      await t.done();
    }
  });
});
