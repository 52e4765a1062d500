import { Worker } from 'node:worker_threads';

const ENTRY = new URL('./thread-entry.mjs', import.meta.url);

/**
 * A worker thread of the presence benchmark running one of this folder's modules (`watchers.ts`,
 * `bystander.ts`): commands go in, typed messages come back, each awaited by its type.
 */
export class Thread<Command, Message extends { type: string }> {
  private readonly worker: Worker;
  private readonly waiting: Array<{ type: string; resolve: (m: Message) => void; reject: (err: Error) => void }> = [];
  private failed: Error | undefined;

  constructor(module: string, data: object) {
    this.worker = new Worker(ENTRY, { workerData: { ...data, module: new URL(module, import.meta.url).href } });
    this.worker.on('message', (m: Message) => {
      const i = this.waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m);
    });
    const fail = (err: Error): void => {
      this.failed = err;
      for (const w of this.waiting.splice(0)) w.reject(err);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`${module} thread exited (${code})`)));
  }

  /** The next message of `type`; rejects after `timeoutMs` or when the thread fails. */
  next<T extends Message['type']>(type: T, timeoutMs = 120_000): Promise<Extract<Message, { type: T }>> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} message from the thread within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<Message, { type: T }>);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  send(command: Command): void {
    this.worker.postMessage(command);
  }

  async terminate(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
