// Loaded into a gateway with `--import` (flood-turn.ts): a 1 ms timer notes each loop turn that kept
// it waiting more than TURN_PROBE_MS (default 20), when it ended (Date.now()), how long the main thread ran on a CPU and
// waited for one meanwhile (from its /proc schedstat; Linux only), and writes them to stderr as
// `turn {json}` lines when the process ends (appended to the file TURN_PROBE_OUT names instead, when
// set: a gateway the adversary suite starts keeps its stderr to itself). The CPU time is what the turn cost the gateway; the
// wait is the machine's load. Plain JavaScript: it loads before the gateway's TypeScript loader.
import { appendFileSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const OVER_MS = Number(process.env.TURN_PROBE_MS ?? 20);
const file = `/proc/self/task/${process.pid}/schedstat`;
/** The main thread's time on a CPU and waiting for one, in ms. */
function sched() {
  const [run, wait] = readFileSync(file, 'utf8').split(' ');
  return { cpu: Number(run) / 1e6, wait: Number(wait) / 1e6 };
}
const turns = [];
let last = performance.now();
let lastSched = sched();
setInterval(() => {
  const now = performance.now();
  const s = sched();
  if (now - last > OVER_MS) {
    const round = (n) => Math.round(n * 10) / 10;
    turns.push({ endedAt: Date.now(), wallMs: round(now - last), cpuMs: round(s.cpu - lastSched.cpu), waitMs: round(s.wait - lastSched.wait) });
  }
  last = now;
  lastSched = s;
}, 1).unref();
process.on('exit', () => {
  const lines = turns.map((t) => `turn ${JSON.stringify(t)}\n`).join('');
  if (process.env.TURN_PROBE_OUT) appendFileSync(process.env.TURN_PROBE_OUT, lines);
  else process.stderr.write(lines);
});
