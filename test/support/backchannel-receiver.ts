import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BackchannelReceiver {
  readonly url: string;
  /** Every logout_token posted to it, including those it answered with an error. */
  readonly tokens: string[];
  /** Set to answer every call with this status (say 503, an app that is down); null answers 200. */
  failWith: number | null;
  close(): Promise<void>;
}

/** A relying party's back-channel logout endpoint: records every logout_token posted to it. */
export async function startBackchannelReceiver(): Promise<BackchannelReceiver> {
  const tokens: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token');
      if (req.method === 'POST' && token) tokens.push(token);
      res.writeHead(token ? (receiver.failWith ?? 200) : 400).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: BackchannelReceiver = {
    url: `http://127.0.0.1:${port}/backchannel-logout`,
    tokens,
    failWith: null,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return receiver;
}
