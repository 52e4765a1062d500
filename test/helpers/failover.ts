import { expect } from 'vitest';
import { ChannelLedger, emptyCounts } from '../model/ledger.js';
import { allReady, type ClusterNode } from './cluster.js';
import { TestClient } from './client.js';
import { until } from '../../devkit/until.js';

/**
 * Node flags every failover scenario shares: history deep enough to repair the whole outage,
 * inbound limits lifted for the publishers, and a fast reconnect to the promoted master.
 */
export const FAILOVER_NODE_FLAGS: readonly string[] = [
  '--channelDefaults.historySize', '2000',
  '--inbound.messagesPerSecond', '0',
  '--inbound.bytesPerSecond', '0',
  '--broker.redis.reconnectMinMs', '50',
  '--broker.redis.reconnectMaxMs', '250',
];

export interface FailoverRun {
  readonly nodes: ClusterNode[];
  /** Channels published to and watched throughout. */
  readonly channels: string[];
  /** Kills a Redis master (whichever the scenario is about) and resolves once a replica serves in its place. */
  readonly kill: () => Promise<void>;
  /** Clients the caller terminates afterwards. */
  readonly clients: TestClient[];
  /** Acks per publisher before the kill, and after the nodes are ready again. */
  readonly acks?: number;
}

/**
 * Three gateway nodes, two subscribers on each watching every channel, one publisher per node
 * publishing to every channel in turn while a Redis master is SIGKILLed and its replica promoted.
 * Checks the delivery guarantee with the model's ledger: per subscriber and channel, messages in
 * seq order, every seq delivered or inside exactly one notice (`gap`/`reset`) placed at its hole,
 * settled at the channel's final position; no (epoch, seq) carries two different messages; every
 * publication acknowledged before the kill or after the nodes were ready again was received by
 * every subscriber; no client disconnected and no node exited.
 */
export async function runFailover(run: FailoverRun): Promise<void> {
  const { nodes, channels, clients } = run;
  const perPhase = run.acks ?? 60;
  const connect = async (node: ClusterNode): Promise<TestClient> => {
    const c = await TestClient.connect(node.url);
    clients.push(c);
    return c;
  };
  const counts = emptyCounts();
  const subscribers = await Promise.all(Array.from({ length: 6 }, (_, i) => connect(nodes[i % nodes.length]!)));
  const ledgers = new Map<TestClient, Map<string, ChannelLedger>>();
  for (const [i, s] of subscribers.entries()) {
    const mine = new Map<string, ChannelLedger>();
    ledgers.set(s, mine);
    for (const ch of channels) {
      const ledger = new ChannelLedger(ch, `subscriber ${i}`, counts);
      ledger.acknowledged(await s.subscribe(ch), undefined);
      mine.set(ch, ledger);
    }
  }
  const publishers = await Promise.all(nodes.map(connect));
  type Phase = 'before' | 'failing' | 'after';
  const acked: Array<{ id: string; phase: Phase }> = [];
  let phase: Phase = 'before';
  let stop = false;
  const loops = publishers.map(async (pub, p) => {
    for (let i = 0; !stop; i++) {
      const sentIn = phase;
      const data = { p, i };
      const reply = await pub.request({ op: 'pub', ch: channels[i % channels.length]!, data });
      if (reply.ev === 'ack') acked.push({ id: JSON.stringify(data), phase: sentIn });
      else {
        // In flight when the master died: may have been published; sent meanwhile: was not.
        expect(['unavailable', 'publish_uncertain']).toContain(reply.code);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  const ackedIn = (which: Phase): number => acked.filter((a) => a.phase === which).length;
  await until(() => ackedIn('before') >= perPhase * publishers.length, 'acks before the kill');
  phase = 'failing';
  await run.kill();
  await allReady(nodes, 200);
  phase = 'after';
  await until(() => ackedIn('after') >= perPhase * publishers.length, 'acks after the failover', 30_000);
  stop = true;
  await Promise.all(loops);
  for (const n of nodes) {
    expect(n.run.child.exitCode).toBeNull();
    // Each node lost its link to the dead master and repaired its channels from history.
    const metrics = await (await fetch(`${n.httpUrl}/metrics`)).text();
    expect(Number(/^sluice_broker_repairs_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  }

  // Where each channel stands at rest, read through a fresh subscription.
  const probe = await connect(nodes[0]!);
  const finals = new Map<string, { epoch: string; seq: number }>();
  for (const ch of channels) {
    const ack = await probe.subscribe(ch);
    finals.set(ch, { epoch: String(ack.epoch), seq: Number(ack.seq) });
  }
  const content = new Map<string, string>();
  for (const s of subscribers) {
    const mine = ledgers.get(s)!;
    const fed = new Map<string, number>();
    const feed = (): boolean => {
      for (const ch of channels) {
        const frames = s.frames.filter((f) => f.ch === ch && (f.ev === 'msg' || f.ev === 'gap'));
        for (let k = fed.get(ch) ?? 0; k < frames.length; k++) mine.get(ch)!.frame(frames[k]!);
        fed.set(ch, frames.length);
      }
      return channels.every((ch) => mine.get(ch)!.settledAt(finals.get(ch)!));
    };
    await s.until(feed, 20_000, 'the subscriber to settle at every channel’s final position');
    for (const ch of channels) mine.get(ch)!.checkSettled(finals.get(ch)!);
    expect(s.closeCode).toBeUndefined();
    const received = new Set<string>();
    let epoch = new Map<string, string>();
    for (const f of s.frames) {
      if (f.ev === 'gap' && f.reason === 'reset') epoch = new Map([...epoch, [String(f.ch), String(f.epoch)]]);
      if (f.ev !== 'msg') continue;
      const id = JSON.stringify(f.data);
      expect(received.has(id), `${id} delivered twice`).toBe(false);
      received.add(id);
      const at = `${f.ch}/${epoch.get(String(f.ch)) ?? ''}/${f.seq}`;
      const seen = content.get(at);
      if (seen === undefined) content.set(at, id);
      else expect(seen, `two messages under ${at}`).toBe(id);
    }
    for (const a of acked) if (a.phase !== 'failing') expect(received.has(a.id), `acknowledged ${a.id} (${a.phase}) not received`).toBe(true);
  }
  const violations = [...ledgers.values()].flatMap((m) => [...m.values()].flatMap((l) => l.violations));
  expect(violations).toEqual([]);
}
