/**
 * JSON request bodies. Up to STREAM_FROM_BYTES a body is parsed at once by Fastify's own parser
 * (`JSON.parse` with its prototype-poisoning guard): a millisecond or two. A larger body — an
 * ingest of 100,000 events is 7 MB — would hold the event loop for 50–150 ms in one
 * `JSON.parse`, so it is fed to an incremental parser (@streamparser/json, a tokenizer that
 * builds the value as bytes arrive) 16 KiB at a time, in time slices; it costs about four times
 * the processor time of `JSON.parse`, and every other request and health probe waits for one
 * slice at most. Both paths give the same value and the same errors: invalid JSON is
 * RALM_ERR_MALFORMED_BODY, and a `__proto__` key (or a `constructor` holding `prototype`) is
 * refused on either path (the incremental one by the plain-data check, encoding.ts).
 */
import { JSONParser } from '@streamparser/json';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TimeSlicer } from '../../util/time-slice.js';
import { ServiceError } from '../errors.js';

/** Bodies from this size are parsed incrementally (about 10 ms of `JSON.parse` on a slow core). */
export const STREAM_FROM_BYTES = 1 << 20;
/** Bytes fed to the incremental parser between checks of the time slice. */
const FEED_BYTES = 16 * 1024;

const invalid = (): ServiceError => new ServiceError('RALM_ERR_MALFORMED_BODY', "body: Body is not valid JSON but content-type is set to 'application/json'");

/** Parses `body` (UTF-8 JSON) in time slices; the whole document's value. */
export async function parseJsonSliced(body: Uint8Array): Promise<unknown> {
  const parser = new JSONParser({ paths: ['$'], keepStack: false });
  let root: unknown;
  let done = false;
  parser.onValue = ({ value, stack }) => {
    if (stack.length === 0) {
      root = value;
      done = true;
    }
  };
  const slicer = new TimeSlicer();
  try {
    for (let at = 0; at < body.length; at += FEED_BYTES) {
      parser.write(body.subarray(at, Math.min(body.length, at + FEED_BYTES)));
      await slicer.tick();
    }
    // The tokenizer ends by itself after the root value (anything but whitespace after it is an
    // error); ending it here says whether the document stopped part way.
    if (!done) parser.end();
  } catch {
    throw invalid();
  }
  if (!done) throw invalid();
  return root;
}

/**
 * Replaces the API context's JSON parser: Fastify's for small bodies, run by `parseBody` (which
 * parses a large one in an event-loop turn of its own, encoding.ts), and the sliced one for large.
 */
export function jsonBodies(app: FastifyInstance, parseBody: (bytes: number, parse: () => void) => void): void {
  const atOnce = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req: FastifyRequest, body: Buffer, done: (err: Error | null, value?: unknown) => void) => {
    if (body.length < STREAM_FROM_BYTES) {
      parseBody(body.length, () => atOnce(req, body as unknown as string, done));
      return;
    }
    parseJsonSliced(body).then((v) => done(null, v), (err: Error) => done(err, undefined));
  });
}
