import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

import type { Config } from '../config/index.ts';
import type { Logger } from '../logger.ts';

/**
 * Text messages to a phone, behind one small interface: the flows that send them (today, the code
 * that proves a new phone number) know nothing of how. A provincial SMS gateway is one more
 * implementation of `TextMessageSender`, chosen here from configuration.
 */
export interface TextMessage {
  /** E.164, as stored (+84…). */
  readonly to: string;
  readonly text: string;
}

export interface TextMessageSender {
  /** Whether messages reach people's phones, rather than the development outbox. */
  readonly reachesPhones: boolean;
  /** Resolves once the gateway accepted the message; rejects with what went wrong otherwise. */
  send(message: TextMessage): Promise<void>;
}

/** How long the gateway may take to accept one message before the person is told to try again. */
const gatewayTimeoutMs = 10_000;

export function createTextMessageSender(config: Pick<Config, 'sms' | 'dataDir'>, logger: Logger): TextMessageSender {
  const { gatewayUrl, gatewayToken } = config.sms;
  return gatewayUrl ? httpGateway(gatewayUrl, gatewayToken) : developmentOutbox(path.join(config.dataDir, 'sms'), logger);
}

/**
 * A gateway that takes {"to", "text"} as JSON over HTTP and answers 2xx once it has the message. The
 * body of a refusal is not repeated: it may echo the message, which can carry a code.
 */
function httpGateway(url: string, token: string | null): TextMessageSender {
  return {
    reachesPhones: true,
    async send(message) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ to: message.to, text: message.text }),
        redirect: 'error',
        signal: AbortSignal.timeout(gatewayTimeoutMs),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`the SMS gateway answered HTTP ${response.status}`);
    },
  };
}

/** The development outbox: one text file per message in DATA_DIR/sms, listed at /dev/outbox. */
function developmentOutbox(directory: string, logger: Logger): TextMessageSender {
  return {
    reachesPhones: false,
    async send(message) {
      await fs.mkdir(directory, { recursive: true, mode: 0o700 });
      const file = path.join(directory, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID()}.txt`);
      await fs.writeFile(file, `To: ${message.to}\n\n${message.text}\n`, { mode: 0o600 });
      // The file holds the code; the log says only where to find it.
      logger.info({ file }, 'text message written to the development outbox (SMS_GATEWAY_URL is unset)');
    },
  };
}
