/**
 * `npm run demo`: a gateway on 127.0.0.1 with the dashboard on, plus simulated traffic that puts
 * every flow-control policy to work. Stops on Ctrl-C or after --duration seconds.
 *
 *   npm run demo -- [--port 8080] [--duration 600] [--scale 1] [--no-traffic] [--key KEY]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import { CLOSE } from '../../src/protocol/close-codes.js';
import { DEMO_CONFIG } from '../../devkit/demo-traffic/config.js';
import { startTraffic, type Traffic } from '../../devkit/demo-traffic/traffic.js';

/** Fast clients worth naming once; the slow ones are named on every connection. */
const FEATURED = new Set(['exchange', 'trader-1', 'monitor', 'member-1']);
const closeName = (code: number): string => Object.values(CLOSE).find((c) => c.code === code)?.reason ?? (code === 1006 ? 'connection lost' : '');
/** Server-side closes are summed over this long, so a device cut off every few seconds is one line, not many. */
const NARRATE_EVERY_MS = 5000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      duration: { type: 'string', default: '600' },
      scale: { type: 'string', default: '1' },
      key: { type: 'string' },
      'no-traffic': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const durationS = Number(values.duration);
  const scale = Number(values.scale);
  if (!(durationS > 0) || !(scale > 0) || !Number.isInteger(Number(values.port))) throw new Error('--port, --duration and --scale take numbers (duration and scale above 0)');
  const key = values.key ?? randomBytes(18).toString('base64url');
  const say = values.quiet ? () => {} : (line: string) => console.log(line);

  const config = loadConfig({ overrides: { ...DEMO_CONFIG, port: Number(values.port), dashboard: { enabled: true, adminKey: key } } });
  const gateway = await Gateway.start({ config });
  const base = `http://127.0.0.1:${gateway.port}`;
  // One machine-readable line first (loadtest/experiments/dashboard-cost.ts reads it), then the human part.
  console.log(JSON.stringify({ port: gateway.port, key }));
  say(`\nSluice demo: gateway on ws://127.0.0.1:${gateway.port}/`);
  say(`Dashboard:   ${base}/dashboard (admin key: ${key})`);
  say(`Metrics:     ${base}/metrics`);
  say(`Stops after ${durationS} s, or on Ctrl-C.\n`);

  let traffic: Traffic | undefined;
  if (!values['no-traffic']) {
    say('Who is who (connection ids change on reconnect):');
    traffic = startTraffic(`ws://127.0.0.1:${gateway.port}/`, {
      scale,
      onHello: (c, role) => {
        if (c.connections === 1 && (role.slow || FEATURED.has(role.name))) say(`  ${c.connId.padEnd(5)} ${role.name.padEnd(17)} ${role.story}`);
        else if (c.connections > 1 && role.slow && role.name !== 'device-broken') say(`  ${c.connId.padEnd(5)} ${role.name.padEnd(17)} reconnected (was closed with ${c.lastClose} ${closeName(c.lastClose)})`);
      },
    });
  }

  // The server's side of the story: a slow client learns of its close only when it reads that far.
  const closes = new Map<number, number>();
  const narrator = setInterval(() => {
    for (const [code, total] of gateway.stats.closesByCode) {
      const fresh = total - (closes.get(code) ?? 0);
      closes.set(code, total);
      if (fresh > 0 && code !== CLOSE.shutting_down.code) say(`  server closed ${fresh} connection(s) with ${code} (${closeName(code)})`);
    }
  }, NARRATE_EVERY_MS);

  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say(`\n${why}: stopping traffic and draining the gateway…`);
    clearTimeout(deadline);
    clearInterval(narrator);
    traffic?.stop();
    await gateway.shutdown();
    say('stopped.');
    process.exit(0);
  };
  const deadline = setTimeout(() => void stop(`${durationS} s elapsed`), durationS * 1000);
  process.once('SIGINT', () => void stop('Ctrl-C'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
