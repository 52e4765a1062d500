/**
 * The Lua scripts of the Redis broker. Each runs atomically in Redis, so a channel's seq, history
 * and pub/sub message can never disagree: a publish acknowledged to a client is in history, and
 * every node subscribed to the channel receives it, in seq order.
 *
 * Keys per channel (hash-tagged by channel name, so one channel's keys share a cluster slot):
 *   <prefix>{<channel>}:s  hash  e = epoch, s = last seq     (PEXPIRE streamTtlMs after each publish)
 *   <prefix>{<channel>}:h  list  "<seq>:<ms>:<body>", oldest first, at most historySize entries
 *                                                           (PEXPIRE historyTtlMs after each publish)
 * Pub/sub channel per channel: <prefix>m:<channel>, message "<epoch>:<seq>:<body>".
 * <body> is "<key as JSON, or empty>\n<data as the client sent it>".
 * A stream's epoch is made from Redis' clock when its hash is created (first publish or read, or
 * after the hash expired or Redis lost its data): a new epoch means history was lost.
 */

const NEW_EPOCH = `
local function stream_epoch(meta, hist, t, streamTtl)
  local epoch = redis.call('HGET', meta, 'e')
  if epoch then return epoch, false end
  epoch = string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))
  redis.call('HSET', meta, 'e', epoch, 's', 0)
  redis.call('DEL', hist)
  if streamTtl > 0 then redis.call('PEXPIRE', meta, streamTtl) end
  return epoch, true
end
`;

/**
 * KEYS: meta, history. ARGV: pub/sub channel, body, historySize, historyTtlMs, streamTtlMs.
 * Returns { seq, epoch }.
 */
export const PUBLISH_SCRIPT = `${NEW_EPOCH}
local t = redis.call('TIME')
local streamTtl = tonumber(ARGV[5])
local epoch = stream_epoch(KEYS[1], KEYS[2], t, streamTtl)
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
local size = tonumber(ARGV[3])
if size > 0 then
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('RPUSH', KEYS[2], seq .. ':' .. now .. ':' .. ARGV[2])
  redis.call('LTRIM', KEYS[2], -size, -1)
  local ttl = tonumber(ARGV[4])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
if streamTtl > 0 then redis.call('PEXPIRE', KEYS[1], streamTtl) end
redis.call('PUBLISH', ARGV[1], epoch .. ':' .. seq .. ':' .. ARGV[2])
return { seq, epoch }
`;

/**
 * KEYS: meta, history. ARGV: since epoch ('' for none), since seq, historySize, historyTtlMs,
 * streamTtlMs. Returns { epoch, seq, recovered (0/1), entries after since.seq (when recovered) }.
 */
export const HISTORY_SCRIPT = `${NEW_EPOCH}
local t = redis.call('TIME')
local epoch = stream_epoch(KEYS[1], KEYS[2], t, tonumber(ARGV[5]))
local seq = tonumber(redis.call('HGET', KEYS[1], 's'))
if ARGV[1] ~= epoch then return { epoch, seq, 0, {} } end
local need = seq - tonumber(ARGV[2])
if need == 0 then return { epoch, seq, 1, {} } end
if need < 0 or need > tonumber(ARGV[3]) then return { epoch, seq, 0, {} } end
local entries = redis.call('LRANGE', KEYS[2], -need, -1)
if #entries < need then return { epoch, seq, 0, {} } end
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local first = entries[1]
  local a = string.find(first, ':', 1, true)
  local b = string.find(first, ':', a + 1, true)
  if now - tonumber(string.sub(first, a + 1, b - 1)) > ttl then return { epoch, seq, 0, {} } end
end
return { epoch, seq, 1, entries }
`;

/** "<a>:<b>:<key JSON>\\n<data>" → its parts; the key is undefined when empty. */
export function parseEntry(text: string): { a: string; b: string; key: string | undefined; data: string } {
  const i = text.indexOf(':');
  const j = text.indexOf(':', i + 1);
  const nl = text.indexOf('\n', j + 1);
  const keyJson = text.slice(j + 1, nl);
  return { a: text.slice(0, i), b: text.slice(i + 1, j), key: keyJson === '' ? undefined : (JSON.parse(keyJson) as string), data: text.slice(nl + 1) };
}

export function encodeBody(key: string | undefined, rawData: string): string {
  return `${key === undefined ? '' : JSON.stringify(key)}\n${rawData}`;
}
