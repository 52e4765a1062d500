import type { Broker, BrokerEvents, HistoryOutcome, PublishOutcome } from '../../src/broker/broker.js';
import { ChannelRules, type ResolvedChannelSettings } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { Publication } from '../../src/stream/publication.js';

/** A channel as a broker sees it: a name and its stream settings. */
export interface TestChannel {
  readonly name: string;
  readonly settings: ResolvedChannelSettings;
}

/** Records what a broker reports, and lets a test wait for deliveries. */
export class RecordingEvents implements BrokerEvents {
  readonly delivered: Publication[] = [];
  interruptions = 0;
  restorations = 0;
  private waiters: Array<() => void> = [];

  /** `clock` stamps publications, as the hub does (the memory broker expires history by it). */
  constructor(private readonly clock: () => number = Date.now) {}

  encode(channel: string, epoch: string, seq: number, key: string | undefined, rawData: string, del = false): Publication {
    return new Publication(channel, { policy: 'disconnect', maxAgeMs: 0 }, epoch, seq, key, undefined, Buffer.from(rawData), this.clock(), del);
  }

  /** A synchronous broker hands the node its publication in the outcome: record it as delivered. */
  published(outcome: PublishOutcome): PublishOutcome {
    if (outcome.ok && outcome.publication !== undefined) this.deliver(outcome.publication);
    return outcome;
  }

  deliver(pub: Publication): void {
    this.delivered.push(pub);
    this.wake();
  }

  interrupted(): void {
    this.interruptions++;
    this.wake();
  }

  restored(): void {
    this.restorations++;
    this.wake();
  }

  /** Resolves once `check` holds (re-checked on every event); rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for broker events')), timeoutMs);
      const waiter = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  private wake(): void {
    for (const w of this.waiters.slice()) w();
  }
}

export function channelFactory(overrides: Partial<ConfigInput> = {}): (name: string) => TestChannel {
  const rules = new ChannelRules(loadConfig({ overrides }));
  return (name) => ({ name, settings: rules.settingsFor(name) });
}

export async function historyOf(broker: Broker, channel: TestChannel, since?: { epoch: string; seq: number }, tail = false): Promise<Extract<HistoryOutcome, { ok: true }>> {
  const outcome = await broker.history(channel.name, channel.settings, since, tail);
  if (!outcome.ok) throw new Error('history unavailable');
  return outcome;
}
