import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { freePort } from './server-process.js';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * Shared pieces of the transport comparisons (idle-connections.ts, transport-fanout.ts): a Sluice
 * server in a child process, its RSS, and a raw WebSocket client that costs the load generator a
 * header read per frame. Everything is on 127.0.0.1.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface SluiceProcess {
  readonly pid: number;
  readonly port: number;
  /** Resident set size in bytes (Linux /proc). */
  rss(): number;
  /** CPU seconds (user + system) the server has used so far (Linux /proc). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export function machine(): string {
  return `${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}


/**
 * Starts `src/cli.ts` under tsx with the given flags; resolves once /healthz answers. With
 * CPU_PROFILE_DIR set, the server writes a V8 CPU profile there when it exits.
 */
export async function startSluice(flags: string[]): Promise<SluiceProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(process.env.CPU_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.CPU_PROFILE_DIR] : []), '--import', 'tsx', 'src/cli.ts', '--host', '127.0.0.1', '--port', String(port), '--log.level', 'warn', ...flags], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sluice exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('sluice did not start within 20 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = child.pid!;
  return {
    pid,
    port,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024,
    cpuSeconds: () => {
      // Fields after the command name; utime and stime are the 12th and 13th, in clock ticks (100 Hz on Linux).
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A client frame with the all-zero mask (valid per RFC 6455, and masking becomes a copy). */
export function clientTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : n < 65536 ? Buffer.from([0x81, 0x80 | 126, n >> 8, n & 255]) : undefined;
  if (head === undefined) throw new Error('frame too large for this client');
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

const HANDSHAKE = (port: number) =>
  `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/**
 * A raw WebSocket client: performs the handshake, then counts the server's data frames by their
 * headers alone (server frames are unmasked and unfragmented). Pings are not answered: the runs
 * set a heartbeat far longer than themselves.
 */
export class RawClient {
  frames = 0;
  private socket: Socket;
  private upgraded = false;
  private carry: Buffer | undefined;
  /** Bytes of the current frame's payload still to skip. */
  private skip = 0;

  constructor(
    port: number,
    /** Called after each data frame; replace it to change what the client waits for. */
    public onFrame: (client: RawClient) => void,
    onError: (err: Error) => void,
  ) {
    this.socket = connect(port, '127.0.0.1', () => this.socket.write(HANDSHAKE(port)));
    this.socket.on('data', (chunk: Buffer) => this.data(chunk));
    this.socket.on('error', onError);
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private data(chunk: Buffer): void {
    let buf = this.carry === undefined ? chunk : Buffer.concat([this.carry, chunk]);
    this.carry = undefined;
    let i = 0;
    if (!this.upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        this.carry = buf;
        return;
      }
      if (!buf.subarray(0, 12).toString().includes('101')) throw new Error(`handshake refused: ${buf.subarray(0, end).toString()}`);
      this.upgraded = true;
      i = end + 4;
    }
    while (i < buf.length) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, buf.length - i);
        this.skip -= take;
        i += take;
        continue;
      }
      if (buf.length - i < 2) break;
      const len7 = buf[i + 1]! & 0x7f;
      const headLen = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      if (buf.length - i < headLen) break;
      const len = len7 === 126 ? buf.readUInt16BE(i + 2) : len7 === 127 ? Number(buf.readBigUInt64BE(i + 2)) : len7;
      const opcode = buf[i]! & 0x0f;
      i += headLen;
      this.skip = len;
      if (opcode === 1 || opcode === 2) {
        this.frames++;
        this.onFrame(this);
      }
    }
    if (i < buf.length) {
      buf = buf.subarray(i);
      this.carry = Buffer.from(buf);
    }
  }
}

/** Opens `count` raw clients, `batch` at a time; resolves once every one has received its first frame (hello). */
export async function openClients(port: number, count: number, batch: number): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let opened = 0; opened < count; opened += batch) {
    const n = Math.min(batch, count - opened);
    await new Promise<void>((resolve, reject) => {
      let ready = 0;
      for (let k = 0; k < n; k++) {
        clients.push(
          new RawClient(
            port,
            (c) => {
              if (c.frames === 1 && ++ready === n) resolve();
            },
            reject,
          ),
        );
      }
    });
  }
  return clients;
}

/** Sets every client's onFrame to wait for its `frames`-th frame; resolves when all have reached it. */
export function allReach(clients: RawClient[], frames: number): Promise<void> {
  return new Promise((resolve) => {
    let done = clients.filter((c) => c.frames >= frames).length;
    if (done === clients.length) resolve();
    for (const c of clients) {
      c.onFrame = () => {
        if (c.frames === frames && ++done === clients.length) resolve();
      };
    }
  });
}

/**
 * Publishes `messages` frames from `publisher` in windows of `window`: each window is written at
 * once and the next waits for the ack of its last frame (`frame(id)` must carry that id; the others
 * `frame(undefined)`). Takes over the publisher's onFrame.
 */
export async function publishInWindows(publisher: RawClient, messages: number, window: number, frame: (id?: number) => Buffer): Promise<void> {
  let acked = 0;
  let onAck: () => void = () => {};
  publisher.onFrame = () => {
    acked++;
    onAck();
  };
  for (let sent = 0; sent < messages; sent += window) {
    const n = Math.min(window, messages - sent);
    const frames: Buffer[] = [];
    for (let k = 0; k < n - 1; k++) frames.push(frame());
    frames.push(frame(sent + n));
    const want = acked + 1;
    const ack = new Promise<void>((resolve) => (onAck = () => acked >= want && resolve()));
    publisher.send(Buffer.concat(frames));
    await ack;
  }
}
