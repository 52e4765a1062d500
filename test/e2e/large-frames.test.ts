import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { clientFrame } from '../../devkit/wire-client.js';
import { until } from '../../devkit/until.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

/**
 * Frames of 16 KiB and more to a subscriber that stops reading until its kernel buffers and then
 * its queue are full, and then reads again: every frame must arrive whole, in order, with what was
 * shed announced. uWebSockets.js before uWebSockets v20.47 (the pinned 20.30 build among them)
 * writes such a frame with one writev of header and payload when it holds nothing for the socket,
 * and when the kernel took fewer bytes than the header it kept the header and lost the payload
 * (uWebSockets #1662): the peer then read a header announcing N bytes followed by the next frame.
 * The load tool met it with send buffers capped at 256 KiB and readers that fell behind while
 * reading (docs/benchmarks.md, "Eighteenth pass"); a reader that stops outright here, on the host's
 * buffers, did not (the old code passes this suite: the kernel then took part of each write). The
 * rule that keeps such frames off that path is pinned by test/transport/uws-socket.test.ts; this
 * suite checks that frames sent by the other path arrive whole.
 */
describe.each(TRANSPORTS)('frames of 16 KiB and more to a reader that stops [%s]', (transport) => {
  const h = gatewayHarness(transport);

  const run = async (offer: string[], data: (i: number) => string, n: number, { compression = false, sheds = true } = {}): Promise<void> => {
    const g = await h.start({ compression, inbound: { messagesPerSecond: 0, bytesPerSecond: 0 }, channels: [{ pattern: 'big.*', policy: 'drop-oldest' }] });
    const ch = 'big.feed';
    // ws's client offers permessage-deflate by default: with `compression` on, frames arrive compressed.
    const sub = new WebSocket(g.url, offer);
    let deflated = false;
    sub.once('upgrade', (res) => (deflated = String(res.headers['sec-websocket-extensions'] ?? '').includes('permessage-deflate')));
    const problems: string[] = [];
    const seqs: number[] = [];
    let gaps = 0;
    let lastI = 0;
    let acked = (): void => {};
    const subscribed = new Promise<void>((resolve) => (acked = resolve));
    sub.on('message', (raw: Buffer) => {
      for (const text of raw.toString().split('\n')) {
        let f: { ev?: string; ch?: string; seq?: number; data?: { i?: number; pad?: string } };
        try {
          f = JSON.parse(text) as typeof f;
        } catch {
          problems.push(`not JSON (${text.length} B): ${JSON.stringify(text.slice(0, 40))}`);
          continue;
        }
        if (f.ev === 'ack') acked();
        if (f.ev === 'gap') gaps++;
        if (f.ev === 'msg' && f.ch === ch) {
          if (seqs.length > 0 && f.seq! <= seqs.at(-1)!) problems.push(`seq ${f.seq} after ${seqs.at(-1)}`);
          seqs.push(f.seq!);
          const sent = data(f.data!.i!);
          if (f.data?.pad !== sent.slice(sent.indexOf('"pad":"') + 7, -2)) problems.push(`data of seq ${f.seq} altered`);
          lastI = f.data!.i!;
        }
      }
    });
    sub.on('error', (err) => problems.push(`socket error: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      sub.once('open', resolve);
      sub.once('error', reject);
    });
    sub.send(JSON.stringify({ op: 'sub', ch, id: 1 }));
    await subscribed;
    // The reader stops: its kernel buffers and then the gateway's queue fill, and the gateway sheds.
    const tcp = (sub as unknown as { _socket: import('node:net').Socket })._socket;
    tcp.pause();
    const publisher = await h.connect();
    for (let from = 1; from <= n; from += 50) {
      const frames: Buffer[] = [];
      for (let i = from; i < from + 50 && i <= n; i++) frames.push(clientFrame(`{"op":"pub","ch":"${ch}","data":${data(i)}}`));
      publisher.tcp.write(Buffer.concat(frames));
      await until(() => g.gateway.stats.messagesIn >= Math.min(from + 49, n), 'the burst read', 20_000);
    }
    tcp.resume();
    // drop-oldest keeps the newest: the last publication arrives once the reader has read the rest.
    await until(() => lastI === n || problems.length > 0, 'the last publication', 20_000).catch((e) => {
      throw new Error(`${(e as Error).message}: ${seqs.length} received, last ${seqs.at(-1)}, gaps ${gaps}, problems ${problems.length}, last data i ${lastI}`);
    });
    sub.terminate();
    expect(problems).toEqual([]);
    expect(deflated).toBe(compression);
    expect(seqs.at(-1)).toBe(n);
    // The reader fell behind by far more than the queue holds: what it lost was announced.
    if (sheds) expect(gaps).toBeGreaterThan(0);
  };

  it('with compression on, a reader that stops on a disconnect channel is closed 4100 after what was sent before, never stalled', async () => {
    const g = await h.start({ compression: true, inbound: { messagesPerSecond: 0, bytesPerSecond: 0 }, channels: [{ pattern: 'big.*', policy: 'disconnect' }] });
    const ch = 'big.feed';
    const sub = await h.connect({ offer: ['sluice'] });
    await sub.subscribe(ch);
    sub.tcp.pause();
    const publisher = await h.connect();
    const data = noise(20 * 1024);
    for (let from = 1; from <= 600 && sub.closeCode === undefined; from += 50) {
      const frames: Buffer[] = [];
      for (let i = from; i < from + 50; i++) frames.push(clientFrame(`{"op":"pub","ch":"${ch}","data":${data(i)}}`));
      publisher.tcp.write(Buffer.concat(frames));
      await until(() => g.gateway.stats.messagesIn >= from + 49, 'the burst read', 20_000);
    }
    sub.tcp.resume();
    expect(await sub.closed()).toBe(4100);
    // Everything it read before the close came whole and in order, from the first publication.
    const seqs = sub.frames.filter((f) => f.ev === 'msg').map((f) => f.seq as number);
    expect(seqs.length).toBeGreaterThan(0);
    expect(seqs).toEqual(seqs.map((_, k) => k + 1));
  });

  const event = (bytes: number) => (i: number): string => `{"i":${i},"pad":"${String(i % 10).repeat(bytes)}"}`;
  /** Letters that do not deflate (a pseudo-random run, the same for the same `i`). */
  const noise = (bytes: number) => (i: number): string => {
    let x = (i * 2654435761) >>> 0;
    const pad = Buffer.allocUnsafe(bytes);
    for (let k = 0; k < bytes; k++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      pad[k] = 97 + (x >>> 27);
    }
    return `{"i":${i},"pad":"${pad.toString('latin1')}"}`;
  };

  it('events of 20 KiB, one per frame: every frame read whole, in order, losses announced', async () => {
    await run(['sluice'], event(20 * 1024), 600);
  });

  it('batch frames of events of 2 KiB (up to outbound.batchMaxBytes; on uws below 16 KiB): every frame read whole, in order, losses announced', async () => {
    await run(['sluice', 'sluice.batch'], event(2 * 1024), 6000);
  });

  it('batch frames of events of 20 KiB (each alone in its frame): every frame read whole, in order, losses announced', async () => {
    await run(['sluice', 'sluice.batch'], event(20 * 1024), 600);
  });

  it('with compression on, events of 20 KiB and batch frames go deflated and arrive whole, in order, losses announced', async () => {
    await run(['sluice'], noise(20 * 1024), 600, { compression: true });
    await run(['sluice', 'sluice.batch'], noise(2 * 1024), 6000, { compression: true });
  });

  it('with compression on, a reader that stopped gets everything once it reads again, however small the frames deflate (ws: no drain was owed)', async () => {
    // 20 KiB that deflate to a few dozen bytes: ws counts what waits for deflate in bufferedAmount,
    // over the mark, while the TCP socket never fills and so never emits 'drain'. Stalled for good
    // before (7 of 300 arrived, then nothing).
    await run(['sluice'], event(20 * 1024), 300, { compression: true, sheds: false });
    await run(['sluice', 'sluice.batch'], event(2 * 1024), 3000, { compression: true, sheds: false });
  });
});
