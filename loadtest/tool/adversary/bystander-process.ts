import { Bystander, type BystanderOptions } from './bystander.js';

/**
 * The bystander in a process of its own, so the attackers' load generation cannot delay its
 * pings: the parent (loadtest/tool/adversary/main.ts) sends `mark` and gets a report back over IPC.
 */
const options = JSON.parse(process.argv[2]!) as BystanderOptions;
const bystander = new Bystander(options);
await bystander.start();
process.send!({ type: 'ready' });
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'mark') void bystander.mark().then((report) => process.send!({ type: 'report', report }));
  else if (msg.type === 'stop') {
    bystander.stop();
    process.disconnect();
  }
});
