import { isDatabaseUnavailable } from './db/errors.ts';
import type { Logger } from './logger.ts';

/**
 * Sending what a delivery queue holds (see db/queries/delivery-queues): claim a batch, send each,
 * settle each. Shared by the mail outbox and back-channel logout, which differ only in what sending
 * means and how patient they are.
 */
export interface QueuedItem {
  readonly id: string;
  /** Including the attempt now being made. */
  readonly attempts: number;
}

export interface DeliveryRound<T extends QueuedItem> {
  claim(): Promise<T[]>;
  send(item: T): Promise<void>;
  markSent(item: T): Promise<void>;
  markFailed(item: T, error: string, retryAfterSeconds: number): Promise<void>;
  /** Seconds to wait after the attempt numbered `attempts` failed. */
  backoffSeconds(attempts: number): number;
  /** After this many attempts an item is given up. */
  readonly maxAttempts: number;
  onFailure(item: T, error: string): void;
}

/** One batch; never throws for an item that failed to send, only when the queue itself cannot be read or written. */
export async function deliverOneRound<T extends QueuedItem>(round: DeliveryRound<T>): Promise<{ sent: number; failed: number }> {
  let sent = 0;
  let failed = 0;
  for (const item of await round.claim()) {
    try {
      await round.send(item);
      await round.markSent(item);
      sent += 1;
    } catch (error) {
      failed += 1;
      const message = error instanceof Error ? error.message : String(error);
      // The last failure is due at once: a given-up item is one with every attempt made and none pending.
      await round.markFailed(item, message, item.attempts >= round.maxAttempts ? 0 : round.backoffSeconds(item.attempts));
      round.onFailure(item, message);
    }
  }
  return { sent, failed };
}

/** Doubling from `firstSeconds` after the first failure, up to `maxSeconds`. */
export const doublingBackoff = (firstSeconds: number, maxSeconds: number) => (attempts: number) =>
  Math.min(firstSeconds * 2 ** (attempts - 1), maxSeconds);

/**
 * Runs a round every `intervalMs` on this node, one at a time: a round still running when the next
 * is due makes that one skip. Rows are leased, so every node may poll the same queue.
 */
export function pollEvery(intervalMs: number, round: () => Promise<unknown>, logger: Logger, what: string): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  // While the database is down every round fails the same way: say so once, not four times a second.
  let waitingForDatabase = false;
  const timer = setInterval(() => {
    running ??= round()
      .then(
        () => {
          waitingForDatabase = false;
        },
        (error: unknown) => {
          if (!isDatabaseUnavailable(error)) logger.error({ err: error }, `${what} failed`);
          else if (!waitingForDatabase) logger.warn({ err: (error as Error).message }, `${what} paused: the database is unreachable`);
          waitingForDatabase = isDatabaseUnavailable(error);
        },
      )
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
