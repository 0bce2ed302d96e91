import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLogger } from '../../src/logger.ts';
import { createTextMessageSender } from '../../src/sms/sender.ts';
import { startSmsGateway } from '../support/sms-gateway.ts';

const logger = createLogger('silent');
let gateway: Awaited<ReturnType<typeof startSmsGateway>>;

beforeAll(async () => {
  gateway = await startSmsGateway();
});

afterAll(async () => {
  await gateway.close();
});

describe('createTextMessageSender', () => {
  it('posts each message to the gateway as JSON, with the bearer token', async () => {
    const sender = createTextMessageSender({ sms: { gatewayUrl: gateway.url, gatewayToken: 'tok' }, dataDir: '/nonexistent' }, logger);
    expect(sender.reachesPhones).toBe(true);
    await sender.send({ to: '+84912345678', text: 'Mã: 123456' });
    expect(gateway.messages.at(-1)).toEqual({ to: '+84912345678', text: 'Mã: 123456', authorization: 'Bearer tok' });
  });

  it('rejects when the gateway refuses, without repeating what the gateway said', async () => {
    const sender = createTextMessageSender({ sms: { gatewayUrl: gateway.url, gatewayToken: null }, dataDir: '/nonexistent' }, logger);
    gateway.refuse = true;
    try {
      await expect(sender.send({ to: '+84912345678', text: 'x' })).rejects.toThrow(/^the SMS gateway answered HTTP 502$/);
    } finally {
      gateway.refuse = false;
    }
  });

  it('writes to DATA_DIR/sms without a gateway, one private file per message', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'mekong-sms-'));
    const sender = createTextMessageSender({ sms: { gatewayUrl: null, gatewayToken: null }, dataDir }, logger);
    expect(sender.reachesPhones).toBe(false);
    await sender.send({ to: '+84987654321', text: 'Mekong ID: 654321' });
    const [file] = readdirSync(path.join(dataDir, 'sms'));
    expect(readFileSync(path.join(dataDir, 'sms', file!), 'utf8')).toBe('To: +84987654321\n\nMekong ID: 654321\n');
  });
});
