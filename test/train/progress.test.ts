import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { formatDuration, progressLine, ProgressBar } from '../../src/train/progress.js';

const p = { stage: 'stage1' as const, epoch: 2, epochs: 10, step: 50, steps: 200, loss: 2.34567, examplesPerSecond: 7100, etaSeconds: 125 };

describe('training progress bar', () => {
  it('shows the epoch, a bar, the loss, throughput and ETA', () => {
    assert.equal(progressLine(p, 8), 'stage1 epoch 2/10 [##......]  25% loss 2.3457  7.1k ex/s  ETA 2m05s');
    assert.equal(formatDuration(3725), '1h02m');
    assert.equal(formatDuration(Infinity), '?');
  });

  it('redraws in place on a terminal and writes plain lines elsewhere, throttled', () => {
    const capture = (tty: boolean): string => {
      const out = new PassThrough();
      let text = '';
      out.on('data', (d: Buffer) => (text += d.toString()));
      const bar = new ProgressBar(out as unknown as NodeJS.WriteStream, tty);
      bar.update(p);
      bar.update({ ...p, step: 51 }); // within the throttle interval: not drawn
      bar.log('epoch 2: done');
      return text;
    };
    const tty = capture(true);
    assert.ok(tty.startsWith('\r') && tty.includes('\x1b[K') && tty.endsWith('epoch 2: done\n'));
    assert.equal(tty.split('stage1 epoch').length - 1, 1);
    assert.equal(capture(false), `${progressLine(p)}\nepoch 2: done\n`);
  });
});
