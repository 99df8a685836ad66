/**
 * The training progress bar: one line, redrawn in place on a terminal (at most 10 times a
 * second), or a plain line every 10 seconds when stderr is a file or a pipe, so logs stay short.
 */
/** One training step's report, from either stage. */
export interface TrainingProgress {
  stage: 'stage1' | 'stage2';
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Running mean loss of the epoch. */
  loss: number;
  examplesPerSecond: number;
  etaSeconds: number;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

function rate(r: number): string {
  return r >= 1000 ? `${(r / 1000).toFixed(1)}k` : r.toFixed(0);
}

/** The bar's text for one progress report (also used by tests). */
export function progressLine(p: TrainingProgress, width = 24): string {
  const share = p.steps > 0 ? p.step / p.steps : 0;
  const full = Math.round(share * width);
  return `${p.stage} epoch ${p.epoch}/${p.epochs} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(share * 100).toFixed(0).padStart(3)}% `
    + `loss ${p.loss.toFixed(4)}  ${rate(p.examplesPerSecond)} ex/s  ETA ${formatDuration(p.etaSeconds)}`;
}

export class ProgressBar {
  private last = -Infinity;
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr, private readonly tty = Boolean(process.stderr.isTTY)) {}

  update(p: TrainingProgress): void {
    const now = performance.now();
    const end = p.step === p.steps;
    if (!end && now - this.last < (this.tty ? 100 : 10_000)) return;
    this.last = now;
    if (this.tty) {
      this.out.write(`\r${progressLine(p)}\x1b[K`);
      this.drawn = true;
    } else if (!end) {
      this.out.write(progressLine(p) + '\n');
    }
  }

  /** Ends the bar's line before other output. */
  log(line: string): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
    this.out.write(line + '\n');
  }
}
