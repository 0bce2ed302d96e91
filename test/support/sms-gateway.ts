import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedTextMessage {
  readonly to: string;
  readonly text: string;
  readonly authorization: string | undefined;
}

/**
 * An SMS gateway as Mekong ID's HTTP sender expects one: takes {"to", "text"} as JSON and answers
 * 202. `refuse` makes it answer 502, as a gateway with no credit does.
 */
export async function startSmsGateway(): Promise<{
  url: string;
  messages: ReceivedTextMessage[];
  refuse: boolean;
  close(): Promise<void>;
}> {
  const gateway = {
    url: '',
    messages: [] as ReceivedTextMessage[],
    refuse: false,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (gateway.refuse) {
        res.writeHead(502).end('no credit left');
        return;
      }
      const message = JSON.parse(body) as { to: string; text: string };
      gateway.messages.push({ to: message.to, text: message.text, authorization: req.headers.authorization });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gateway.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
  return gateway;
}

/** The six-digit code a message carries. */
export function codeIn(text: string | undefined): string {
  const code = /\b(\d{6})\b/.exec(text ?? '')?.[1];
  if (!code) throw new Error(`no code in the message: ${text}`);
  return code;
}
