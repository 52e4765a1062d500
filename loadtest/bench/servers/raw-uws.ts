/**
 * Baseline: raw uWebSockets.js pub/sub. /sub connections subscribe to one topic; every message a
 * /pub connection sends goes out with app.publish (framed once in C++). Loads the same native
 * binary Sluice's uws transport uses (never the package's JavaScript fallback).
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
      app.publish('bench', message, false);
    },
  })
  .listen('127.0.0.1', Number(process.env.PORT), (token) => {
    if (!token) {
      console.error('raw-uws: listen failed');
      process.exit(1);
    }
  });
process.on('SIGTERM', () => process.exit(0));
