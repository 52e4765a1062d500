/**
 * Baseline: raw uWebSockets.js pub/sub. /sub connections subscribe to one topic; every message a
 * /pub connection sends goes out with app.publish (framed once in C++). Loads the same native
 * binary Sluice's uws transport uses (never the package's JavaScript fallback).
 *
 * RAW_UWS_DEFER=1 (or the argument `defer`) publishes a turn's messages from setImmediate instead of from the message handler,
 * where uWS holds the publisher's socket corked: a subscriber that reaches 32 pending publications
 * there is written at once, uncorked, one send() per frame (docs/benchmarks.md, "uWS publish for
 * caught-up subscribers").
 */
import { loadUws } from '../../../src/transport/uws-loader.js';

interface PubSubWs {
  getUserData(): { sub: boolean };
  subscribe(topic: string): boolean;
}
interface PubSubApp {
  ws(pattern: string, behavior: Record<string, unknown>): PubSubApp;
  publish(topic: string, message: ArrayBuffer, isBinary: boolean): boolean;
  listen(host: string, port: number, cb: (token: unknown) => void): PubSubApp;
}
interface UpgradeReq {
  getUrl(): string;
  getHeader(name: string): string;
}
interface UpgradeRes {
  upgrade(userData: unknown, key: string, protocol: string, extensions: string, context: unknown): void;
}

const DEFER = process.env.RAW_UWS_DEFER === '1' || process.argv[2] === 'defer';
const held: ArrayBuffer[] = [];
const publishHeld = (): void => {
  for (const message of held) app.publish('bench', message, false);
  held.length = 0;
};
const app = loadUws().uws.App() as unknown as PubSubApp;
app
  .ws('/*', {
    compression: 0,
    maxPayloadLength: 64 * 1024,
    idleTimeout: 0,
    // The same per-connection budget Sluice's outbound queue has by default (uWS drops beyond it).
    maxBackpressure: 1024 * 1024,
    upgrade: (res: UpgradeRes, req: UpgradeReq, context: unknown) =>
      res.upgrade({ sub: req.getUrl().startsWith('/sub') }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context),
    open: (ws: PubSubWs) => {
      if (ws.getUserData().sub) ws.subscribe('bench');
    },
    message: (_ws: PubSubWs, message: ArrayBuffer) => {
      if (!DEFER) app.publish('bench', message, false);
      // uWS detaches the message when the handler returns: a held one is a copy.
      else if (held.push(message.slice(0)) === 1) setImmediate(publishHeld);
    },
  })
  .listen('127.0.0.1', Number(process.env.PORT), (token) => {
    if (!token) {
      console.error('raw-uws: listen failed');
      process.exit(1);
    }
  });
process.on('SIGTERM', () => process.exit(0));
