import { runCli, waitForLog, type NodeRun } from '../../devkit/process.js';
import { readyStatus, until } from '../../devkit/until.js';

/** One gateway child process (`src/cli.ts` under tsx) on a port it picked itself. */
export interface ClusterNode {
  readonly run: NodeRun;
  readonly port: number;
  readonly url: string;
  readonly httpUrl: string;
}

/**
 * Starts `count` gateway processes sharing one Redis. Each listens on port 0; its port is read
 * from its "sluice listening" log line. Resolves once every node reports ready; if any node fails
 * to start, every one is stopped before the error is passed on (none is left running).
 */
export async function startCluster(count: number, redisUrl: string, flags: string[] = []): Promise<ClusterNode[]> {
  const runs = Array.from({ length: count }, () =>
    runCli(['--host', '127.0.0.1', '--port', '0', '--broker.type', 'redis', '--broker.redis.url', redisUrl, '--log.healthSummaryIntervalMs', '0', ...flags]),
  );
  try {
    const nodes = await Promise.all(
      runs.map(async (run): Promise<ClusterNode> => {
        const port = (await waitForLog(run, 'sluice listening', 30_000)).port as number;
        return { run, port, url: `ws://127.0.0.1:${port}/`, httpUrl: `http://127.0.0.1:${port}` };
      }),
    );
    await allReady(nodes, 200);
    return nodes;
  } catch (err) {
    await Promise.all(runs.map((run) => run.stop(1_000)));
    throw err;
  }
}

/** Waits until every node's /readyz answers `status`. */
export function allReady(nodes: ClusterNode[], status: number, timeoutMs = 20_000): Promise<void> {
  return until(async () => (await Promise.all(nodes.map((n) => readyStatus(n.httpUrl)))).every((s) => s === status), `every node's /readyz to answer ${status}`, timeoutMs);
}

/** SIGTERM each node (by its PID) and wait for it to exit. */
export async function stopCluster(nodes: ClusterNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.run.stop(8_000)));
}
