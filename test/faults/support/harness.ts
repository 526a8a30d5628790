import { ensureBuilt } from '../../utils/server-process.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../utils/webhook-receiver.js';
import { releaseAll } from './resources.js';

export interface FaultHarness {
  /** The webhook receiver every subscription of the file points at (started before the first test). */
  readonly receiver: WebhookReceiver;
}

/**
 * The set-up every fault file shares, declared in its describe: the compiled server built (the fault tests run
 * dist/ as child processes), one webhook receiver, and every server, database and store released at the end.
 */
export function useFaultHarness(): FaultHarness {
  let receiver: WebhookReceiver | undefined;
  beforeAll(async () => {
    ensureBuilt();
    receiver = await startWebhookReceiver();
  }, 240_000);
  afterAll(async () => {
    await releaseAll();
    await receiver?.close();
  }, 60_000);
  return {
    get receiver(): WebhookReceiver {
      if (!receiver) {
        throw new Error('The fault harness has not started yet (use it inside a test)');
      }
      return receiver;
    },
  };
}
