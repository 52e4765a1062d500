/**
 * The kernel's TCP buffer settings a load run sees, and a way to run a load tool under the ones
 * docs/operations.md ("Kernel socket buffers") recommends for a gateway without touching the host:
 * the tool runs itself again in a private network namespace (its own loopback, its own
 * `net.ipv4.tcp_*` settings), where gateway, generator and any Redis it starts all live.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Set in the copy that runs inside the namespace, so that it does not enter another. */
export const NETNS_ENV = 'LOADTEST_NETNS'; // not SLUICE_*: the gateway refuses environment variables it has no key for

/** The exit status the namespace's setup script uses when it could not be set up (not the tool's own). */
export const SETUP_FAILED = 97;

/** `net.ipv4.tcp_wmem` and `tcp_rmem` (min, default, max bytes) as this process sees them; undefined off Linux. */
export function tcpBuffers(): { wmem: readonly number[]; rmem: readonly number[] } | undefined {
  try {
    const read = (name: string): number[] => readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/).map(Number);
    return { wmem: read('tcp_wmem'), rmem: read('tcp_rmem') };
  } catch {
    return undefined;
  }
}

/** One line for a result's header: the send and receive buffers' maxima, and whether they are the host's. */
export function tcpBuffersLine(): string {
  const b = tcpBuffers();
  if (b === undefined) return 'TCP buffers unknown';
  const where = process.env[NETNS_ENV] === '1' ? 'a private network namespace' : 'the host';
  return `TCP send buffer at most ${b.wmem[2]} B, receive ${b.rmem[2]} B (${where})`;
}

/** The setup script run inside the new namespace: loopback up, the send buffer's maximum set, then the tool. */
export function netnsCommand(tcpWmemMax: number, root: boolean, command: readonly string[]): string[] {
  if (!Number.isInteger(tcpWmemMax) || tcpWmemMax < 4096) throw new Error(`tcp_wmem maximum must be an integer ≥ 4096, got ${tcpWmemMax}`);
  const setup = `ip link set lo up && echo "4096 16384 ${tcpWmemMax}" > /proc/sys/net/ipv4/tcp_wmem || exit ${SETUP_FAILED}; exec "$@"`;
  return [...(root ? [] : ['--map-root-user']), '--net', 'sh', '-c', setup, 'sh', ...command];
}

/**
 * Runs this process's command again inside a private network namespace whose `tcp_wmem` maximum is
 * `tcpWmemMax`, waits for it and exits with its status; returns at once when already inside one.
 * Needs `unshare` and `ip` (util-linux, iproute2) and root or unprivileged user namespaces; throws
 * saying so when the namespace cannot be made, rather than measuring on the host's settings.
 */
export function rerunInNetns(tcpWmemMax: number): void {
  if (process.env[NETNS_ENV] === '1') return;
  const command = [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const args = netnsCommand(tcpWmemMax, process.getuid?.() === 0, command);
  const run = spawnSync('unshare', args, { stdio: 'inherit', env: { ...process.env, [NETNS_ENV]: '1' } });
  if (run.error !== undefined || run.status === SETUP_FAILED) {
    throw new Error(`could not run in a private network namespace with tcp_wmem's maximum at ${tcpWmemMax} B (needs unshare and ip, and root or unprivileged user namespaces): ${run.error?.message ?? `setup exited ${SETUP_FAILED}`}`);
  }
  process.exit(run.status ?? 1);
}
