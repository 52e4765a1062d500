import { DemoClient, SLICE_MS, type DemoClientOptions } from './client.js';

export interface TrafficOptions {
  /** Multiplies every publish rate (1 = the demo's rates); payload sizes stay. */
  readonly scale?: number;
  /** Told of the slow clients' lives (hello with their id, closes), for the console narrative. */
  readonly onHello?: (client: DemoClient, role: Role) => void;
  readonly onClose?: (client: DemoClient, role: Role, code: number) => void;
}

export interface Role {
  readonly name: string;
  readonly story: string;
  readonly slow: boolean;
}

export interface Traffic {
  readonly clients: readonly DemoClient[];
  stop(): void;
}

const SYMBOLS = ['BTC', 'ETH', 'SOL', 'ADA', 'DOT', 'XRP', 'LTC', 'AVAX', 'LINK', 'ATOM'];
const ROOMS = ['hall', 'lab', 'roof'];
const KiB = 1024;

/**
 * The mobile member reads slowly but finds good coverage now and then: reading at full speed, it
 * gets through its backlog to the close the server sent long ago, and reconnects.
 */
const MOBILE = { slowBytesPerSecond: 5 * KiB, coverageEveryTicks: 300, coverageTicks: 30 };

/** Per second, at scale 1. */
const RATES = {
  marketTicks: 300,
  sensorDevices: 30,
  sensorReadingsPerDevice: 10,
  /** Two faulty devices send this many readings a second: above the 500/s bucket, rejected in part. */
  faultyReadings: 700,
  /** One broken device floods: its rejections exhaust the strikes and it is cut off (4101), again and again. */
  brokenReadings: 2000,
  chatMembers: 10,
  chatPostsPerMember: 4,
};

// Payloads are built once; only a few numbers change per message, and they are spliced in as text.
const BOOK = JSON.stringify(Array.from({ length: 120 }, (_, i) => [Number((99.5 + i / 100).toFixed(2)), Number((1 + (i % 7) / 3).toFixed(3))]));
const WAVEFORM = JSON.stringify(Array.from({ length: 160 }, (_, i) => Math.round(Math.sin(i / 8) * 1000) / 1000));
const CHAT_TEXT = 'x'.repeat(700);

/**
 * Simulated traffic that puts every flow-control policy to work at once:
 * - a market feed on `market.*` (conflate): one exchange, fast traders, and a trader on a slow link
 *   whose queue keeps only the latest price per symbol;
 * - sensors on `sensors.*` (drop-oldest, readings older than 500 ms expire): devices, two faulty ones
 *   above their token bucket, one broken one cut off by strikes, a monitor and a slow archiver that
 *   loses old readings (and, sitting above the soft limit, is eventually disconnected);
 * - a chat room `chat.lobby` (disconnect): members, and a mobile member on a slow link that also
 *   watches prices; when its queue fills with chat it is disconnected (4100) and resumes from history.
 * Every loop is driven by one timer and stops with `stop()`.
 */
export function startTraffic(url: string, options: TrafficOptions = {}): Traffic {
  const scale = options.scale ?? 1;
  const clients: DemoClient[] = [];
  const make = (role: Role, clientOptions: DemoClientOptions = {}): DemoClient => {
    const client = new DemoClient(role.name, url, {
      ...clientOptions,
      onHello: (c) => options.onHello?.(c, role),
      onClose: (c, code) => options.onClose?.(c, role, code),
    });
    clients.push(client);
    client.connect();
    return client;
  };
  const subscribeAll = (names: string[]) => (c: DemoClient) => names.forEach((ch) => c.subscribe(ch));
  const market = SYMBOLS.map((s) => `market.${s}`);
  const rooms = ROOMS.map((r) => `sensors.${r}`);

  const exchange = make({ name: 'exchange', story: 'publishes 10 symbols on market.* (conflate)', slow: false });
  for (let i = 1; i <= 2; i++) make({ name: `trader-${i}`, story: 'reads market.* at full speed', slow: false }, { onOpen: subscribeAll(market) });
  make({ name: 'trader-slow', story: 'market.* over a 150 KB/s link: conflated to the latest price per symbol', slow: true }, { onOpen: subscribeAll(market), readBytesPerSecond: 150 * KiB });

  const devices = Array.from({ length: RATES.sensorDevices }, (_, i) => make({ name: `device-${i + 1}`, story: 'publishes readings', slow: false }));
  const faulty = [1, 2].map((i) => make({ name: `device-faulty-${i}`, story: `sends ${RATES.faultyReadings}/s into a 500/s bucket: rate_limited`, slow: true }));
  const broken = make({ name: 'device-broken', story: `sends ${RATES.brokenReadings}/s ignoring rate_limited: cut off with 4101`, slow: true });
  make({ name: 'monitor', story: 'reads sensors.* at full speed', slow: false }, { onOpen: subscribeAll(rooms) });
  make({ name: 'archiver-slow', story: 'sensors.* over a 100 KB/s link: drop-oldest and expiry shed readings', slow: true }, { onOpen: subscribeAll(rooms), readBytesPerSecond: 100 * KiB });

  const members = Array.from({ length: RATES.chatMembers }, (_, i) =>
    make({ name: `member-${i + 1}`, story: 'chats in chat.lobby', slow: false }, { onOpen: subscribeAll(['chat.lobby']), resume: true }),
  );
  const mobile = make(
    {
      name: 'mobile-slow',
      story: 'chat.lobby + market.* over a 5 KB/s link, good coverage for 3 s in 30: disconnected (4100) when chat fills its queue, resumes from history',
      slow: true,
    },
    { onOpen: subscribeAll(['chat.lobby', ...market]), readBytesPerSecond: MOBILE.slowBytesPerSecond, resume: true },
  );

  const roomOf = new Map([...devices, ...faulty, broken].map((d, i) => [d, ROOMS[i % ROOMS.length]!]));
  const perTick = (perSecond: number): number => {
    const exact = (perSecond * scale * SLICE_MS) / 1000;
    return Math.floor(exact) + (Math.random() < exact % 1 ? 1 : 0);
  };
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    const phase = tick % MOBILE.coverageEveryTicks;
    if (phase === 0) mobile.throttle(0);
    else if (phase === MOBILE.coverageTicks) mobile.throttle(MOBILE.slowBytesPerSecond);
    for (const c of clients) c.refill();
    for (let i = perTick(RATES.marketTicks); i > 0; i--) {
      const sym = SYMBOLS[(tick * 7 + i) % SYMBOLS.length]!;
      const mid = 100 + Math.sin(tick / 50 + i) * 5;
      exchange.sendRaw(`{"op":"pub","ch":"market.${sym}","key":"${sym}","data":{"bid":${(mid - 0.01).toFixed(2)},"ask":${(mid + 0.01).toFixed(2)},"book":${BOOK}}}`);
    }
    const reading = (c: DemoClient, n: number, samples: string) => {
      const room = roomOf.get(c)!;
      for (let i = 0; i < n; i++) c.sendRaw(`{"op":"pub","ch":"sensors.${room}","data":{"device":"${c.name}","t":${tick},"samples":${samples}}}`);
    };
    for (const d of devices) reading(d, perTick(RATES.sensorReadingsPerDevice), WAVEFORM);
    // The misbehaving devices send single values: their cost to the gateway is frames, not bytes.
    for (const d of faulty) reading(d, perTick(RATES.faultyReadings), '[1]');
    reading(broken, perTick(RATES.brokenReadings), '[1]');
    for (const m of members) {
      if (perTick(RATES.chatPostsPerMember) > 0) m.sendRaw(`{"op":"pub","ch":"chat.lobby","data":{"from":"${m.name}","t":${tick},"text":"${CHAT_TEXT}"}}`);
    }
  }, SLICE_MS);

  return {
    clients,
    stop() {
      clearInterval(timer);
      for (const c of clients) c.stop();
    },
  };
}
