import type { TransportSocket } from '../../src/net/socket.js';

/** A socket that records what is written and reports backpressure when told to. */
export class FakeSocket implements TransportSocket {
  readonly remoteAddress = '127.0.0.1';
  written: string[] = [];
  full = false;
  corks = 0;
  bufferedAmount = () => 0;
  /** Sends accepted before the socket reports itself full. */
  room = Infinity;
  sendPrepared(frame: unknown): boolean {
    this.written.push((frame as Buffer).toString());
    if (--this.room <= 0) this.full = true;
    return !this.full;
  }
  sendText(text: string): boolean {
    this.written.push(text);
    return !this.full;
  }
  sendPong(payload: Buffer): boolean {
    this.written.push(`pong ${payload.toString()}`);
    return !this.full;
  }
  cork() {
    this.corks++;
  }
  uncork() {}
  pause() {}
  resume() {}
  deferParsing() {}
  ping() {}
  close() {}
  abandon() {}
  terminate() {}
}
