// Loaded into a gateway with `--import` (flood-turn.ts): a 1 ms timer notes each loop turn that kept
// it waiting more than TURN_PROBE_MS (default 20), when it ended (Date.now()), how long the main thread ran on a CPU and
// waited for one meanwhile (from its /proc schedstat; Linux only), and writes them to stderr as
// `turn {json}` lines when the process ends (appended to the file TURN_PROBE_OUT names instead, when
// set: a gateway the adversary suite starts keeps its stderr to itself). The CPU time is what the turn cost the gateway; the
// wait is the machine's load. With TURN_PROBE_FRAMES=1 (uws only) each turn also counts the WebSocket frames uWS handed
// to JavaScript in it (messages and pings: the behavior's handlers are wrapped, at the cost of one call per frame).
// Plain JavaScript: it loads before the gateway's TypeScript loader.
import { appendFileSync, readFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const OVER_MS = Number(process.env.TURN_PROBE_MS ?? 20);
const file = `/proc/self/task/${process.pid}/schedstat`;
/** The main thread's time on a CPU and waiting for one, in ms. */
function sched() {
  const [run, wait] = readFileSync(file, 'utf8').split(' ');
  return { cpu: Number(run) / 1e6, wait: Number(wait) / 1e6 };
}
let frames = 0;
if (process.env.TURN_PROBE_FRAMES === '1') {
  // uWebSockets.js is a native addon: wrap its App's ws() as the addon is loaded, so each message and ping is counted.
  const dlopen = process.dlopen;
  process.dlopen = function (module, filename, ...rest) {
    const result = dlopen.call(this, module, filename, ...rest);
    const addon = module.exports;
    if (typeof addon?.App === 'function') {
      const App = addon.App;
      addon.App = (...args) => {
        const app = App(...args);
        const ws = app.ws;
        app.ws = function (pattern, behavior) {
          // Fixed arities: a rest parameter per frame would cost more than the count.
          const { message, ping } = behavior;
          const wrapped = { ...behavior };
          if (message !== undefined)
            wrapped.message = (socket, data, isBinary) => {
              frames++;
              return message(socket, data, isBinary);
            };
          if (ping !== undefined)
            wrapped.ping = (socket, data) => {
              frames++;
              return ping(socket, data);
            };
          return ws.call(this, pattern, wrapped);
        };
        return app;
      };
    }
    return result;
  };
}
const turns = [];
let lastFrames = 0;
// Garbage collections (start and end, performance.now() ms): each turn says how long it spent in them.
const gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
}).observe({ entryTypes: ['gc'] });
let last = performance.now();
let lastSched = sched();
setInterval(() => {
  const now = performance.now();
  const s = sched();
  if (now - last > OVER_MS) {
    const round = (n) => Math.round(n * 10) / 10;
    const turn = { endedAt: Date.now(), wallMs: round(now - last), cpuMs: round(s.cpu - lastSched.cpu), waitMs: round(s.wait - lastSched.wait), from: last, to: now };
    turns.push(process.env.TURN_PROBE_FRAMES === '1' ? { ...turn, frames: frames - lastFrames } : turn);
  }
  lastFrames = frames;
  last = now;
  lastSched = s;
}, 1).unref();
process.on('exit', () => {
  const round = (n) => Math.round(n * 10) / 10;
  const lines = turns
    .map(({ from, to, ...t }) => {
      const gcMs = gcs.reduce((ms, [a, b]) => ms + Math.max(0, Math.min(b, to) - Math.max(a, from)), 0);
      return `turn ${JSON.stringify({ ...t, gcMs: round(gcMs) })}\n`;
    })
    .join('');
  if (process.env.TURN_PROBE_OUT) appendFileSync(process.env.TURN_PROBE_OUT, lines);
  else process.stderr.write(lines);
});
