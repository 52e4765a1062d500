/**
 * Redis killed for 5 s under load: 3 nodes on one redis-server (no persistence), 150 subscribers
 * (50 per node) of one channel, 3 publishers (one per node) at ~1,500 messages/s in all. At 3 s
 * Redis is SIGKILLed, at 8 s started again (empty), publishing stops at 12 s. Prints what clients
 * saw: publishes refused and how fast, /readyz, recovery time, notices, and whether any
 * acknowledged message was lost without a notice covering it.
 *
 *   npx tsx loadtest/experiments/redis-outage.ts
 *
 * Bounded: fixed timeline, every wait has a deadline, processes killed by PID at the end.
 */
import WebSocket from 'ws';
import { startRedis } from '../../devkit/redis.js';
import { readyStatus, until } from '../../devkit/until.js';
import { machine, startSluice, type SluiceProcess } from './transport-probe.js';

const SUBSCRIBERS_PER_NODE = 50;
const RATE_PER_PUBLISHER = 500;
const KILL_AT = 3_000;
const RESTART_AT = 8_000;
const STOP_AT = 12_000;
const CH = 'outage';

type Frame = { ev: string; id?: number; seq?: number; code?: string; reason?: string; epoch?: string; from?: number; to?: number };

function open(port: number, onFrame: (f: Frame) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.on('message', (d) => onFrame(JSON.parse(d.toString()) as Frame));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function main(): Promise<void> {
  console.log(`redis outage: 3 nodes, ${3 * SUBSCRIBERS_PER_NODE} subscribers, ${3 * RATE_PER_PUBLISHER} msg/s, Redis down ${KILL_AT / 1000}–${RESTART_AT / 1000} s; ${machine()}`);
  const redis = await startRedis();
  const nodes: SluiceProcess[] = [];
  const guard = setTimeout(() => {
    console.error('timed out');
    process.exit(1);
  }, 90_000);
  try {
    const flags = ['--broker.type', 'redis', '--broker.redis.url', redis.url, '--broker.redis.reconnectMaxMs', '250', '--inbound.messagesPerSecond', '0', '--channelDefaults.historySize', '5000', '--log.level', 'error'];
    for (let i = 0; i < 3; i++) nodes.push(await startSluice(flags));
    const waitAll = (want: number, timeoutMs: number) =>
      until(async () => (await Promise.all(nodes.map((n) => readyStatus(n.httpUrl)))).every((s) => s === want), `every /readyz to answer ${want}`, timeoutMs, 20);
    await waitAll(200, 20_000);

    // Subscribers record every msg and notice.
    const subs = await Promise.all(
      Array.from({ length: 3 * SUBSCRIBERS_PER_NODE }, async (_, i) => {
        const rec = { msgs: [] as Frame[], notices: [] as Frame[], epoch: '' };
        let acked: () => void = () => {};
        const subscribed = new Promise<void>((r) => (acked = r));
        const ws = await open(nodes[i % 3]!.port, (f) => {
          if (f.ev === 'msg') rec.msgs.push(f);
          else if (f.ev === 'gap') rec.notices.push(f);
          else if (f.ev === 'ack') {
            rec.epoch = f.epoch!;
            acked();
          }
        });
        ws.send(JSON.stringify({ op: 'sub', ch: CH, id: 1 }));
        await subscribed;
        return { ws, rec };
      }),
    );

    const t0 = Date.now();
    const acks: Array<{ seq: number; t: number }> = [];
    const refusals: Array<{ t: number; code: string }> = [];
    let killedAt = Infinity;
    let restartedAt = Infinity;
    const publishers = await Promise.all(
      nodes.map((n) =>
        open(n.port, (f) => {
          if (f.ev === 'ack') acks.push({ seq: f.seq!, t: Date.now() - t0 });
          else if (f.ev === 'err') refusals.push({ t: Date.now() - t0, code: f.code! });
        }),
      ),
    );
    let id = 0;
    const perTick = RATE_PER_PUBLISHER / 100;
    const ticker = setInterval(() => {
      for (const p of publishers) for (let k = 0; k < perTick; k++) p.send(JSON.stringify({ op: 'pub', ch: CH, id: ++id, data: { id } }));
    }, 10);

    await new Promise((r) => setTimeout(r, KILL_AT));
    await redis.kill();
    killedAt = Date.now() - t0;
    const notReady = (async () => {
      await waitAll(503, 10_000);
      return Date.now() - t0;
    })();
    const notReadyAt = await notReady;
    await new Promise((r) => setTimeout(r, Math.max(0, RESTART_AT - (Date.now() - t0))));
    await redis.restart();
    restartedAt = Date.now() - t0;
    await waitAll(200, 20_000);
    const readyAt = Date.now() - t0;
    await new Promise((r) => setTimeout(r, Math.max(0, STOP_AT - (Date.now() - t0))));
    clearInterval(ticker);
    // Let the last acks and deliveries arrive.
    const lastSent = id;
    const settle = Date.now() + 10_000;
    while (acks.length + refusals.length < lastSent && Date.now() < settle) await new Promise((r) => setTimeout(r, 20));

    const afterRestart = acks.filter((a) => a.t > restartedAt);
    const beforeKill = acks.filter((a) => a.t <= killedAt);
    const lastSeq = Math.max(...afterRestart.map((a) => a.seq));
    while (subs.some((s) => s.rec.msgs[s.rec.msgs.length - 1]?.seq !== lastSeq) && Date.now() < settle) await new Promise((r) => setTimeout(r, 20));

    const firstRefusal = refusals.find((r) => r.t >= killedAt && r.code === 'unavailable');
    const firstAckAfter = afterRestart[0];
    const codes = new Map<string, number>();
    for (const r of refusals) codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    let uncovered = 0;
    let duplicates = 0;
    const noticeKinds = new Map<string, number>();
    for (const { rec } of subs) {
      for (const n of rec.notices) noticeKinds.set(n.reason!, (noticeKinds.get(n.reason!) ?? 0) + 1);
      const reset = rec.notices.find((n) => n.reason === 'reset');
      const resetIndex = reset ? rec.msgs.findIndex((m, i) => i > 0 && (m.seq ?? 0) <= (rec.msgs[i - 1]!.seq ?? 0)) : -1;
      const oldSeqs = new Set((resetIndex < 0 ? rec.msgs : rec.msgs.slice(0, resetIndex)).map((m) => m.seq));
      const newSeqs = resetIndex < 0 ? new Set<number | undefined>() : new Set(rec.msgs.slice(resetIndex).map((m) => m.seq));
      duplicates += rec.msgs.length - oldSeqs.size - newSeqs.size;
      for (const a of beforeKill) if (!oldSeqs.has(a.seq) && !(reset && a.seq >= reset.from!)) uncovered++;
      for (const a of afterRestart) if (!newSeqs.has(a.seq) && !(reset && a.seq <= Number((reset as { seq?: number }).seq))) uncovered++;
    }
    console.log(`published: ${lastSent} sent, ${acks.length} acked (${beforeKill.length} before the kill, ${afterRestart.length} after the restart), refused: ${JSON.stringify(Object.fromEntries(codes))}`);
    console.log(`kill at ${killedAt} ms: first 'unavailable' after ${firstRefusal ? firstRefusal.t - killedAt : '-'} ms, every /readyz 503 after ${notReadyAt - killedAt} ms (clients stay connected)`);
    console.log(`restart at ${restartedAt} ms: every /readyz 200 after ${readyAt - restartedAt} ms, first ack after ${firstAckAfter ? firstAckAfter.t - restartedAt : '-'} ms`);
    console.log(`subscribers: ${subs.length}, notices ${JSON.stringify(Object.fromEntries(noticeKinds))}, duplicates ${duplicates}, acknowledged messages missing without a covering notice: ${uncovered}`);
    for (const s of subs) s.ws.terminate();
    for (const p of publishers) p.terminate();
  } finally {
    clearTimeout(guard);
    await Promise.all(nodes.map((n) => n.stop()));
    await redis.stop();
  }
}

await main();
process.exit(0);
