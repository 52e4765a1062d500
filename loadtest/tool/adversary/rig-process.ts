import { SLUICE_CLI, spawnServer, type ServerProcess } from '../../../devkit/process.js';
import { sleep } from './attack-client.js';
import { Bystander, type BystanderOptions } from './bystander.js';

/**
 * The side of the adversary suite that is not the attack, in a process of its own at normal
 * priority: it starts each gateway under attack and runs the bystander beside it. The parent
 * (loadtest/tool/adversary/main.ts) forks it before it lowers its own priority (`--attack-nice`),
 * so the gateways started from here do not inherit the attackers' lower priority, and the
 * attackers' load generation cannot delay the bystander's pings. Commands and answers go over IPC.
 */
export type RigCommand =
  | { readonly type: 'start'; readonly configFile: string; readonly nodeArgs: string[]; readonly gatewayArgs: string[]; readonly bystander: Omit<BystanderOptions, 'url'> }
  | { readonly type: 'mark' }
  | { readonly type: 'stop'; readonly graceMs: number | undefined };

export type RigAnswer =
  | { readonly type: 'ready' }
  | { readonly type: 'started'; readonly pid: number; readonly port: number; readonly url: string }
  | { readonly type: 'report'; readonly report: Awaited<ReturnType<Bystander['mark']>> }
  | { readonly type: 'stopped' }
  | { readonly type: 'failed'; readonly message: string };

let server: ServerProcess | undefined;
let bystander: Bystander | undefined;
const answer = (a: RigAnswer): void => void process.send!(a);

async function handle(c: RigCommand): Promise<void> {
  if (c.type === 'start') {
    server = await spawnServer({
      script: SLUICE_CLI,
      args: ['--config', c.configFile, '--host', '127.0.0.1', '--log.level', 'error', '--log.healthSummaryIntervalMs', '0', ...c.gatewayArgs],
      portFlag: true,
      nodeArgs: c.nodeArgs,
    });
    bystander = new Bystander({ ...c.bystander, url: server.url });
    await bystander.start();
    await sleep(1000);
    await bystander.mark();
    answer({ type: 'started', pid: server.pid, port: server.port, url: server.url });
  } else if (c.type === 'mark') {
    answer({ type: 'report', report: await bystander!.mark() });
  } else {
    bystander?.stop();
    await server?.stop(c.graceMs);
    answer({ type: 'stopped' });
  }
}

// Commands come one at a time (the parent awaits each answer).
process.on('message', (c: RigCommand) => void handle(c).catch((err: unknown) => answer({ type: 'failed', message: (err as Error).message })));
process.on('disconnect', () => void server?.stop().then(() => process.exit(0)));
answer({ type: 'ready' });
