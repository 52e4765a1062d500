import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('loadConfig', () => {
  it('gives a complete, frozen default configuration', () => {
    const config = loadConfig();
    expect(config.port).toBe(8080);
    expect(config.outbound.maxQueueBytes).toBe(1024 * 1024);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.outbound)).toBe(true);
  });

  it('layers file < env < flags < overrides', () => {
    const path = file('layers.yaml', 'port: 1000\ninbound:\n  messagesPerSecond: 5\noutbound:\n  maxQueueMessages: 7\n');
    const config = loadConfig({
      file: path,
      env: { SLUICE_PORT: '2000', SLUICE_INBOUND_MESSAGES_PER_SECOND: '6' },
      flags: [['port', '3000']],
      overrides: { outbound: { maxQueueBytes: 4096, softQueueBytes: 0 } },
    });
    expect(config.port).toBe(3000);
    expect(config.inbound.messagesPerSecond).toBe(6);
    expect(config.outbound.maxQueueMessages).toBe(7);
    expect(config.outbound.maxQueueBytes).toBe(4096);
  });

  it('reads JSON files and JSON-valued variables', () => {
    const path = file('c.json', JSON.stringify({ channels: [{ pattern: 'a.*', policy: 'conflate' }] }));
    expect(loadConfig({ file: path }).channels[0]).toMatchObject({ pattern: 'a.*', policy: 'conflate' });
    const fromEnv = loadConfig({ env: { SLUICE_CHANNELS: '[{"pattern":"b.*","policy":"drop-newest"}]', SLUICE_COMPRESSION: 'true' } });
    expect(fromEnv.channels[0]).toMatchObject({ pattern: 'b.*', policy: 'drop-newest' });
    expect(fromEnv.compression).toBe(true);
  });

  it('maps key paths to environment variable names', () => {
    expect(envName('outbound.maxQueueBytes')).toBe('SLUICE_OUTBOUND_MAX_QUEUE_BYTES');
    expect(envName('limits.maxSubscriptionsPerConnection')).toBe('SLUICE_LIMITS_MAX_SUBSCRIPTIONS_PER_CONNECTION');
  });

  const rejects = (options: Parameters<typeof loadConfig>[0], ...fragments: string[]) => {
    let message = '';
    try {
      loadConfig(options);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    for (const f of fragments) expect(message).toContain(f);
  };

  it('names the bad key and its source', () => {
    rejects({ file: file('bad.yaml', 'outbound:\n  maxQueueBytes: -1\n') }, 'outbound.maxQueueBytes', 'bad.yaml');
    rejects({ env: { SLUICE_PORT: '70000' } }, 'port', 'SLUICE_PORT');
    rejects({ env: { SLUICE_PORT: 'eighty' } }, 'port: expected a number', 'SLUICE_PORT');
    rejects({ flags: [['inbound.mode', 'drop']] }, 'inbound.mode', '--inbound.mode');
    rejects({ overrides: { channels: [{ pattern: 'x', policy: 'sometimes' }] } }, 'channels.0.policy');
  });

  it('rejects unknown keys, variables and options', () => {
    rejects({ file: file('typo.yaml', 'outbound:\n  maxQueueByte: 5\n') }, 'outbound.maxQueueByte', 'unknown key');
    rejects({ env: { SLUICE_NOT_A_KEY: '1' } }, 'SLUICE_NOT_A_KEY');
    rejects({ flags: [['nope', '1']] }, 'unknown option --nope');
  });

  it('rejects contradictory settings with the reason', () => {
    rejects({ overrides: { limits: { maxPayloadBytes: 1_000_000 }, inbound: { bytesBurst: 1000 } } }, 'inbound.bytesBurst', 'maxPayloadBytes');
    rejects({ overrides: { heartbeat: { intervalMs: 1000, idleTimeoutMs: 500 } } }, 'heartbeat.idleTimeoutMs');
    rejects({ overrides: { outbound: { maxQueueBytes: 2048, softQueueBytes: 4096 } } }, 'outbound.softQueueBytes');
  });

  it('refuses settings that would keep Redis keys forever', () => {
    rejects({ overrides: { broker: { redis: { streamTtlMs: 0 } } } }, 'broker.redis.streamTtlMs');
  });

  it('takes Redis Cluster seeds and sentinels as JSON, and refuses a topology that contradicts itself', () => {
    const seeds = ['10.0.0.1:6379', 'redis-2:6379'];
    expect(loadConfig({ env: { SLUICE_BROKER_REDIS_CLUSTER: JSON.stringify(seeds) } }).broker.redis.cluster).toEqual(seeds);
    rejects({ overrides: { broker: { redis: { cluster: ['no-port'] } } } }, 'broker.redis.cluster', 'host:port');
    rejects({ overrides: { broker: { redis: { cluster: seeds, sentinel: { name: 'm', sentinels: seeds } } } } }, 'broker.redis.sentinel.name');
    rejects({ overrides: { broker: { redis: { sentinel: { name: 'm' } } } } }, 'broker.redis.sentinel.sentinels');
    rejects({ overrides: { broker: { redis: { tls: { ca: '/ca.pem' } } } } }, 'broker.redis.tls', 'rediss://');
    rejects({ overrides: { broker: { redis: { url: 'rediss://r:6380', tls: { cert: '/c.pem' } } } } }, 'broker.redis.tls', 'tls.key');
  });

  it('refuses a JWKS refetch cooldown of zero (every unknown kid would fetch the key set)', () => {
    rejects({ overrides: { auth: { jwksCooldownMs: 0 } } }, 'auth.jwksCooldownMs');
  });

  it('reports unreadable and unparsable files', () => {
    rejects({ file: join(dir, 'missing.yaml') }, 'cannot read config file');
    rejects({ file: file('broken.json', '{"port":') }, 'cannot parse config file');
    rejects({ file: file('list.yaml', '- 1\n- 2\n') }, 'must hold a mapping');
  });
});
