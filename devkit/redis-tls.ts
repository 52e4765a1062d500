import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { exited, hasRedisServer, launch } from './redis.js';

/**
 * A redis-server that serves TLS (and requires a client certificate) on `tlsPort`, with a CA, a
 * server certificate for 127.0.0.1/localhost and a client certificate made for it by `openssl`
 * in a temporary directory. Its plain port is only used to know when it is up.
 */
export interface TestRedisTls {
  readonly url: string;
  readonly tlsPort: number;
  /** Paths of the PEM files (`broker.redis.tls.ca`, `cert`, `key`). */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  stop(): Promise<void>;
}

export function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

export async function startRedisTls(): Promise<TestRedisTls> {
  if (!hasRedisServer() || !hasOpenssl()) throw new Error('TLS tests need redis-server and openssl on PATH (apt-get install redis-server openssl)');
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
  let child: ChildProcess | undefined;
  try {
    const file = (name: string): string => join(dir, name);
    const openssl = (...args: string[]): void => {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
    };
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=sluice-test-ca');
    writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    for (const who of ['server', 'client']) {
      openssl('req', '-new', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=sluice-test-${who}`);
      const ext = who === 'server' ? ['-extfile', 'server.ext'] : [];
      openssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', ...ext);
    }
    const port = await freePort();
    const tlsPort = await freePort();
    child = await launch(port, ['--tls-port', String(tlsPort), '--tls-cert-file', file('server.crt'), '--tls-key-file', file('server.key'), '--tls-ca-cert-file', file('ca.crt'), '--tls-auth-clients', 'yes']);
    const running = child;
    return {
      url: `rediss://127.0.0.1:${tlsPort}`,
      tlsPort,
      ca: file('ca.crt'),
      cert: file('client.crt'),
      key: file('client.key'),
      async stop() {
        running.kill('SIGKILL');
        await exited(running);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
