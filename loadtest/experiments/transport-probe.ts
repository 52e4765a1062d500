import { cpus, totalmem } from 'node:os';
import { mustReadProc } from '../../devkit/proc.js';
import { ONE_ADDRESS, SLUICE_CLI, spawnServer, type ServerProcess } from '../../devkit/process.js';
import { WireClient } from '../../devkit/wire-client.js';

/**
 * Shared pieces of the experiments that compare transports and setups (idle-connections,
 * transport-fanout, redis-scaleout, redis-outage): a Sluice server in a child process with its RSS
 * and CPU, and clients that count the server's frames by their headers alone. Everything is on
 * 127.0.0.1.
 */

export interface SluiceProcess extends ServerProcess {
  /** Resident set size in bytes (Linux /proc). */
  rss(): number;
  /** CPU seconds (user + system) the server has used so far (Linux /proc). */
  cpuSeconds(): number;
}

export function machine(): string {
  return `${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/**
 * Starts `src/cli.ts` under tsx with the given flags; resolves once it listens. With
 * CPU_PROFILE_DIR set, the server writes a V8 CPU profile there when it exits.
 */
export async function startSluice(flags: string[]): Promise<SluiceProcess> {
  const server = await spawnServer(
    {
      script: SLUICE_CLI,
      args: ['--host', '127.0.0.1', '--log.level', 'warn', ...ONE_ADDRESS, ...flags],
      portFlag: true,
      nodeArgs: process.env.CPU_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.CPU_PROFILE_DIR] : [],
      onStderr: (line) => console.error(line),
    },
    20_000,
  );
  const stop = server.stop;
  return Object.assign(server, {
    rss: () => mustReadProc(server.pid).rssBytes,
    cpuSeconds: () => mustReadProc(server.pid).cpuSeconds,
    stop: (graceMs = 10_000) => stop(graceMs),
  });
}

/**
 * A client that counts the server's data frames. Pings are answered, but the runs set a
 * heartbeat far longer than themselves.
 */
export class CountingClient {
  frames = 0;
  private readonly wire: WireClient;

  constructor(
    port: number,
    /** Called after each data frame; replace it to change what the client waits for. */
    public onFrame: (client: CountingClient) => void,
    onFailure: (err: Error) => void,
  ) {
    this.wire = new WireClient({
      onOpen: () => {},
      onFrame: () => {
        this.frames++;
        this.onFrame(this);
      },
      onClose: (code) => {
        if (code === 0) onFailure(new Error(`could not open a WebSocket to port ${port}`));
      },
    });
    this.wire.connect(new URL(`ws://127.0.0.1:${port}/`), '/', 30_000);
  }

  /** Writes frames made by `clientFrame`. */
  send(frames: Buffer): void {
    this.wire.sendFrames(frames);
  }

  destroy(): void {
    this.wire.destroy();
  }
}

/** Opens `count` clients, `batch` at a time; resolves once every one has received its first frame (hello). */
export async function openClients(port: number, count: number, batch: number): Promise<CountingClient[]> {
  const clients: CountingClient[] = [];
  for (let opened = 0; opened < count; opened += batch) {
    const n = Math.min(batch, count - opened);
    await new Promise<void>((resolve, reject) => {
      let ready = 0;
      for (let k = 0; k < n; k++) {
        clients.push(
          new CountingClient(
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
export function allReach(clients: CountingClient[], frames: number): Promise<void> {
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
export async function publishInWindows(publisher: CountingClient, messages: number, window: number, frame: (id?: number) => Buffer): Promise<void> {
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
