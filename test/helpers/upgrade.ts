import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { TestClient } from './client.js';

export interface RefusedUpgrade {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** Opens a WebSocket expecting the server to refuse the upgrade; resolves with the HTTP answer. */
export function refusedUpgrade(url: string, options: WebSocket.ClientOptions & { protocols?: string[] } = {}): Promise<RefusedUpgrade> {
  const { protocols, ...rest } = options;
  const ws = new WebSocket(url, protocols ?? [], rest);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.once('error', (err) => reject(err));
  });
}

/** Connects with a token in the Authorization header (or no token). */
export function connectWithToken(url: string, token?: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
  return TestClient.connect(url, token === undefined ? options : { ...options, headers: { ...options.headers, Authorization: `Bearer ${token}` } });
}
