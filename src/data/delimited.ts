/**
 * A streaming reader for CSV and TSV files, plain or gzipped, that keeps line numbers.
 *
 * Why not a parser from npm: the datasets need RFC 4180 quoting (MovieLens titles and tags hold
 * commas and doubled quotes), CRLF, a BOM, gzip, and for every rejected row the physical line it
 * started on; that is about a hundred lines here, and the rest of the reader (header lookup,
 * bad-row accounting) would be ours either way. Unquoted lines, nearly all of them, take a plain
 * `split`, so a three-million-row log costs little more than reading it.
 *
 * Quoting rules: a field that starts with `"` is quoted and may hold the delimiter, `""` (one
 * quote) and line breaks (joined with `\n`); after its closing quote only the delimiter or the end
 * of the record may follow. A `"` inside an unquoted field is kept as an ordinary character.
 *
 * Text is UTF-8 unless the caller names another encoding (ISO 8859-1 or Windows-1252). A UTF-8
 * line that does not decode (its bad bytes become U+FFFD) is kept but counted as a warning with
 * its line, so a Latin-1 file read as UTF-8 is noticed instead of quietly holding `�`.
 */
import { createReadStream, existsSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { RalmError } from '../util/errors.js';
import type { ReadReport } from './report.js';

/** The text encodings a file may be in. `latin1` is ISO 8859-1 (every byte is the code point of its value). */
export const ENCODINGS = ['utf-8', 'latin1', 'windows-1252'] as const;
export type TextEncoding = (typeof ENCODINGS)[number];

/** The warning a line gets when UTF-8 decoding replaced bytes (or the text holds U+FFFD itself). */
export const INVALID_UTF8 = 'invalid UTF-8 (bytes replaced by U+FFFD; if the file is Latin-1 or Windows-1252, set "encoding" in the schema)';

/** A streaming decoder: chunks in, text out, multi-byte characters split across chunks kept whole. */
function decoderFor(encoding: TextEncoding): { write(b: Buffer): string; end(): string } {
  if (encoding === 'windows-1252') {
    const d = new TextDecoder('windows-1252');
    return { write: (b) => d.decode(b, { stream: true }), end: () => d.decode() };
  }
  const d = new StringDecoder(encoding === 'utf-8' ? 'utf8' : 'latin1');
  return { write: (b) => d.write(b), end: () => d.end() };
}

/** `splitRecord` result for a record whose quoted field continues on the next line. */
export const OPEN_QUOTE = 'open' as const;
/** `splitRecord` result for text between a closing quote and the next delimiter. */
export const BAD_QUOTE = 'bad-quote' as const;

/** Splits one record (possibly several physical lines joined by `\n`) into fields. */
export function splitRecord(s: string, delimiter: string): string[] | typeof OPEN_QUOTE | typeof BAD_QUOTE {
  if (s.indexOf('"') < 0) return s.split(delimiter);
  const out: string[] = [];
  const n = s.length;
  let i = 0;
  while (true) {
    if (s.charCodeAt(i) === 34 /* " */) {
      let value = '';
      let j = i + 1;
      while (true) {
        const q = s.indexOf('"', j);
        if (q < 0) return OPEN_QUOTE;
        if (s.charCodeAt(q + 1) === 34) {
          value += s.slice(j, q + 1);
          j = q + 2;
          continue;
        }
        value += s.slice(j, q);
        i = q + 1;
        break;
      }
      out.push(value);
      if (i === n) return out;
      if (s[i] !== delimiter) return BAD_QUOTE;
      i++;
    } else {
      const e = s.indexOf(delimiter, i);
      if (e < 0) {
        out.push(s.slice(i));
        return out;
      }
      out.push(s.slice(i, e));
      i = e + 1;
    }
    if (i === n) {
      out.push('');
      return out;
    }
  }
}

/** The delimiter a path implies: tab for `.tsv` / `.tsv.gz` / `.tab`, comma otherwise. */
export function delimiterFor(path: string, format?: 'csv' | 'tsv'): string {
  if (format) return format === 'tsv' ? '\t' : ',';
  return /\.(tsv|tab)(\.gz)?$/i.test(path) ? '\t' : ',';
}

/** Handles one data row: `fields` has exactly as many entries as the header; `line` is where the row starts. */
export type RowHandler = (fields: string[], line: number) => void;

/**
 * Streams `path` (gunzipping it when the name ends in `.gz`), hands the header to `onHeader`,
 * and each data row to the handler it returns; `afterChunk` is awaited after each chunk's rows. Rows with the wrong field count or broken quoting
 * are rejected into `report` here; the handler rejects rows whose values are bad and counts the
 * ones it keeps.
 */
export async function readDelimited(path: string, report: ReadReport, onHeader: (header: string[]) => RowHandler,
  opts: { delimiter?: string; encoding?: TextEncoding; afterChunk?: () => Promise<void> } = {}): Promise<void> {
  if (!existsSync(path)) throw new RalmError('RALM_ERR_VALIDATION', `${path}: no such file`);
  const delimiter = opts.delimiter ?? delimiterFor(path);
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n') throw new RalmError('RALM_ERR_VALIDATION', `delimiter: expected one character other than a quote or newline, got ${JSON.stringify(delimiter)}`);
  report.beginFile(path);
  const raw = createReadStream(path);
  let src: Readable = raw;
  if (path.toLowerCase().endsWith('.gz')) {
    const gunzip = createGunzip();
    raw.on('error', (err) => gunzip.destroy(err));
    src = raw.pipe(gunzip);
  }
  const encoding = opts.encoding ?? 'utf-8';
  if (!ENCODINGS.includes(encoding)) throw new RalmError('RALM_ERR_VALIDATION', `encoding: expected one of ${ENCODINGS.join(', ')}, got ${JSON.stringify(encoding)}`);
  const utf8 = encoding === 'utf-8';
  const decoder = decoderFor(encoding);
  let header: string[] | null = null;
  let handler: RowHandler | null = null;
  let lineNo = 0;
  let pending: string | null = null;
  let pendingLine = 0;

  const onLine = (line: string): void => {
    lineNo++;
    let text = line;
    let at = lineNo;
    if (pending !== null) {
      text = pending + '\n' + line;
      at = pendingLine;
      pending = null;
    } else if (line === '') {
      report.blankLines++;
      return;
    }
    if (utf8 && line.includes('\uFFFD')) report.warn(INVALID_UTF8, path, lineNo);
    const fields = splitRecord(text, delimiter);
    if (fields === OPEN_QUOTE) {
      pending = text;
      pendingLine = at;
      return;
    }
    if (header === null || handler === null) {
      if (fields === BAD_QUOTE) throw new RalmError('RALM_ERR_VALIDATION', `${path}:${at}: the header has text after a closing quote`);
      header = fields.map((f) => f.trim());
      handler = onHeader(header);
      return;
    }
    report.row();
    if (fields === BAD_QUOTE) report.reject('text after a closing quote', path, at);
    else if (fields.length !== header.length) report.reject(`wrong number of fields (header has ${header.length})`, path, at);
    else handler(fields, at);
  };

  try {
    let carry = '';
    let first = true;
    for await (const chunk of src) {
      let text = carry + decoder.write(chunk as Buffer);
      if (first && text.length > 0) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        first = false;
      }
      let start = 0;
      while (true) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        onLine(text.slice(start, end));
        start = nl + 1;
      }
      carry = text.slice(start);
      // The reader waits here (backpressure): a consumer can hand a batch of rows on.
      if (opts.afterChunk) await opts.afterChunk();
    }
    carry += decoder.end();
    if (carry.length > 0) onLine(carry.endsWith('\r') ? carry.slice(0, -1) : carry);
  } catch (err) {
    if (err instanceof RalmError) throw err;
    throw new RalmError('RALM_ERR_VALIDATION', `${path}: cannot read (${(err as Error).message})`);
  }
  if (pending !== null) {
    report.row();
    report.reject('unterminated quoted field', path, pendingLine);
  }
  if (header === null) throw new RalmError('RALM_ERR_VALIDATION', `${path}: empty, expected a header line`);
}

/** Column positions by name, with an error that names the file, the column and what the header holds. */
export function columnIndex(path: string, header: string[], name: string, role: string): number {
  const i = header.indexOf(name);
  if (i < 0) throw new RalmError('RALM_ERR_VALIDATION', `${path}: column "${name}" (${role}) is not in the header; the header has ${header.map((h) => JSON.stringify(h)).join(', ')}`);
  return i;
}
