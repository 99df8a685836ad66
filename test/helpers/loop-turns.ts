/**
 * How many times the event loop turned while `work` ran: a setImmediate chain counts the turns,
 * so work that holds the loop in one piece counts few, and work handed to other threads or done
 * in slices counts many. A structural check, not a timing one.
 */
export async function loopTurnsDuring<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let running = true;
  const spin = (): void => {
    if (!running) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  try {
    return { value: await work(), turns };
  } finally {
    running = false;
  }
}
