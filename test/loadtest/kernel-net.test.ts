import { describe, expect, it } from 'vitest';
import { netnsCommand, NETNS_ENV, SETUP_FAILED, tcpBuffers, tcpBuffersLine } from '../../devkit/kernel-net.js';

describe('kernel-net: running a load tool under a gateway’s TCP buffer settings', () => {
  it('makes the namespace as root without a user namespace, and with one otherwise', () => {
    const asRoot = netnsCommand(262144, true, ['node', 'bench.js', '--high-rate']);
    expect(asRoot.slice(0, 3)).toEqual(['--net', 'sh', '-c']);
    const asUser = netnsCommand(262144, false, ['node', 'bench.js']);
    expect(asUser.slice(0, 2)).toEqual(['--map-root-user', '--net']);
  });

  it('brings loopback up and sets only the send buffer’s maximum, then runs the command as given', () => {
    const args = netnsCommand(131072, true, ['node', 'tool.js', 'a b', '--x']);
    const setup = args[3]!;
    expect(setup).toContain('ip link set lo up');
    expect(setup).toContain('echo "4096 16384 131072" > /proc/sys/net/ipv4/tcp_wmem');
    expect(setup).toContain(`exit ${SETUP_FAILED}`);
    // "$@" after `sh -c <script> sh`: the command's words reach exec unsplit.
    expect(args.slice(4)).toEqual(['sh', 'node', 'tool.js', 'a b', '--x']);
  });

  it('refuses a maximum the kernel would not take', () => {
    expect(() => netnsCommand(Number.NaN, true, ['x'])).toThrow(/integer ≥ 4096/);
    expect(() => netnsCommand(1000, true, ['x'])).toThrow(/integer ≥ 4096/);
    expect(() => netnsCommand(65536.5, true, ['x'])).toThrow(/integer ≥ 4096/);
  });

  it('reads the buffers this process sees and says whose they are', () => {
    const b = tcpBuffers();
    if (process.platform !== 'linux') {
      expect(b).toBeUndefined();
      return;
    }
    expect(b!.wmem).toHaveLength(3);
    expect(b!.wmem[2]).toBeGreaterThanOrEqual(b!.wmem[1]!);
    const before = process.env[NETNS_ENV];
    try {
      delete process.env[NETNS_ENV];
      expect(tcpBuffersLine()).toBe(`TCP send buffer at most ${b!.wmem[2]} B, receive ${b!.rmem[2]} B (the host)`);
      process.env[NETNS_ENV] = '1';
      expect(tcpBuffersLine()).toMatch(/\(a private network namespace\)$/);
    } finally {
      if (before === undefined) delete process.env[NETNS_ENV];
      else process.env[NETNS_ENV] = before;
    }
  });
});
