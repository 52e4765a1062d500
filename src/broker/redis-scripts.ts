import { KEYED_PUBLISH, KEYED_READ } from './redis-keyed.js';

/**
 * The Lua scripts of the Redis broker. Each runs atomically in Redis, so a channel's seq, history
 * and pub/sub message can never disagree: a publish acknowledged to a client is in history, and
 * every node subscribed to the channel receives it, in seq order.
 *
 * Keys per channel (hash-tagged by channel name, so one channel's keys share a cluster slot); only
 * a publish writes them, and every one expires:
 *   <prefix>{<channel>}:s  hash  e = epoch, s = last seq, b = bytes of the entries in :h
 *                                (PEXPIRE streamTtlMs after each publish)
 *   <prefix>{<channel>}:h  list  "<seq>:<ms>:<body>", oldest first, at most historySize entries
 *                                and historyMaxBytes of them (at least one)
 *                                (PEXPIRE historyTtlMs after each publish, streamTtlMs when that is 0)
 *   <prefix>{<channel>}:p:<pid>  string  "<epoch>:<seq>" of the publication made with that pid
 *                                (PX publicationIdTtlMs)
 * Pub/sub channel per channel: <prefix>m:<channel>, message "<epoch>:<seq>:<body>"; on a Redis
 * Cluster a shard channel (SPUBLISH/SSUBSCRIBE) <prefix>{<channel>}:m, on the slot of the keys.
 * <body> is "<key as JSON, or empty>\n<data as the client sent it>" ("!" first: a keyed delete).
 * A keyed channel's state: see redis-keyed.ts.
 * A stream's epoch is made from Redis' clock when its first publish creates its hash (again after
 * the hash expired or Redis lost its data): a new epoch means history was lost.
 *
 * A history read never writes. For a stream that does not exist it answers seq 0 and a provisional
 * epoch "~<run>.<ms>" (Redis' run id prefix and clock at the read). A later read `since` that
 * position continues into the stream's real epoch when that stream was created after the read,
 * by the same Redis process, less than streamTtlMs after it: an earlier stream would have had to
 * expire in between, which takes streamTtlMs without a publish, so the stream is the first one
 * the provisional position could have seen.
 */

const NEW_EPOCH = `
local function stream_epoch(meta, hist, t, streamTtl)
  local epoch = redis.call('HGET', meta, 'e')
  if epoch then return epoch, false end
  epoch = string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))
  redis.call('HSET', meta, 'e', epoch, 's', 0)
  redis.call('DEL', hist)
  redis.call('PEXPIRE', meta, streamTtl)
  return epoch, true
end
`;

/**
 * Publications of one channel, in order. KEYS: meta, history, keyed state, then the pid key of each
 * publication whose pid is remembered. ARGV: pub/sub channel, historySize, historyTtlMs,
 * streamTtlMs, publicationIdTtlMs, maxKeys (-1: not a keyed channel), keyedMaxBytes, keyTtlMs,
 * historyMaxBytes (0: no bound), then per publication: 1 if it has a pid key (0 if not), body.
 * Returns { epoch, seq of each publication }: a pid the current epoch was published with answers
 * that publication's seq, and is not published again; -1: refused by the keyed bounds.
 * `command`: PUBLISH, or SPUBLISH on a cluster.
 */
export const publishScript = (command: 'PUBLISH' | 'SPUBLISH'): string => `${NEW_EPOCH}${KEYED_PUBLISH}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local streamTtl = tonumber(ARGV[4])
local epoch, fresh = stream_epoch(KEYS[1], KEYS[2], t, streamTtl)
local maxKeys = tonumber(ARGV[6])
local maxBytes = tonumber(ARGV[7])
local keyTtl = tonumber(ARGV[8])
local keyed = maxKeys >= 0
if fresh then redis.call('DEL', KEYS[3]) end
local seq = tonumber(redis.call('HGET', KEYS[1], 's'))
local size = tonumber(ARGV[2])
local pidTtl = tonumber(ARGV[5])
local given = epoch .. ':'
local out = { epoch }
local entries = {}
local k = 3
for i = 10, #ARGV, 2 do
  local pidKey = nil
  if ARGV[i] == '1' then
    k = k + 1
    pidKey = KEYS[k]
  end
  local seen = pidKey and redis.call('GET', pidKey)
  if seen and string.sub(seen, 1, #given) == given then
    out[#out + 1] = tonumber(string.sub(seen, #given + 1))
  elseif keyed and not keyed_admits(KEYS[3], KEYS[1], ARGV[i + 1], maxKeys, maxBytes, now, keyTtl) then
    out[#out + 1] = -1
  else
    seq = seq + 1
    local entry = seq .. ':' .. now .. ':' .. ARGV[i + 1]
    if size > 0 then entries[#entries + 1] = entry end
    if keyed then keyed_apply(KEYS[3], KEYS[1], ARGV[i + 1], entry) end
    redis.call('${command}', ARGV[1], epoch .. ':' .. seq .. ':' .. ARGV[i + 1])
    if pidKey then redis.call('SET', pidKey, given .. seq, 'PX', pidTtl) end
    out[#out + 1] = seq
  end
end
redis.call('HSET', KEYS[1], 's', seq)
if #entries > 0 then
  -- The list expires (or is dropped with its epoch) as a whole: its bytes then start again from 0.
  local held = redis.call('EXISTS', KEYS[2]) == 1 and tonumber(redis.call('HGET', KEYS[1], 'b') or '0') or 0
  for _, entry in ipairs(entries) do held = held + #entry end
  local len = redis.call('RPUSH', KEYS[2], unpack(entries))
  local maxBytes = tonumber(ARGV[9])
  while len > 1 and (len > size or (maxBytes > 0 and held > maxBytes)) do
    held = held - #redis.call('LPOP', KEYS[2])
    len = len - 1
  end
  redis.call('HSET', KEYS[1], 'b', held)
  local ttl = tonumber(ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ttl > 0 and ttl or streamTtl)
end
redis.call('PEXPIRE', KEYS[1], streamTtl)
if keyed then redis.call('PEXPIRE', KEYS[3], streamTtl) end
return out
`;

/**
 * A stream behind a position it already gave out (a failover to a replica that had not received
 * the last writes): its seqs would be given again to other publications. KEYS: meta, history.
 * ARGV: the epoch and seq the caller holds. If the stream is still in that epoch and behind that
 * seq, it begins a new epoch at its seq (its history belongs to the old one and is dropped), so
 * every node and resumer learns of the loss by a `reset`. Returns { epoch, seq }.
 */
export const FORK_SCRIPT = `
local epoch = redis.call('HGET', KEYS[1], 'e')
local seq = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
if epoch ~= ARGV[1] or seq >= tonumber(ARGV[2]) then return { epoch or '', seq } end
local t = redis.call('TIME')
epoch = string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))
redis.call('HSET', KEYS[1], 'e', epoch)
redis.call('DEL', KEYS[2])
return { epoch, seq }
`;

const PROVISIONAL = `
local function run_id()
  return string.sub(string.match(redis.call('INFO', 'server'), 'run_id:(%x+)'), 1, 8)
end
local function now_ms(t)
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The read time of a provisional epoch made by this Redis process, or nil.
local function provisional_ms(since)
  if string.sub(since, 1, 1) ~= '~' then return nil end
  local run, ms = string.match(since, '^~(%x+)%.(%x+)$')
  if run == nil or run ~= run_id() then return nil end
  return tonumber(ms, 16)
end
`;

/**
 * History entries read in bounded chunks, so that no reply holds a whole history (a large one took
 * longer than the command timeout to arrive on a busy node, and every retry failed the same way).
 */
const READ_ENTRIES = `
local function entry_seq(entry)
  return tonumber(string.sub(entry, 1, string.find(entry, ':', 1, true) - 1))
end
-- The entries from index first to index last (both from the end: negative), read in steps, until
-- maxBytes are read (at least one entry; 0: no bound); and the seq of the first one left (0: none).
local function read_entries(hist, first, last, maxBytes)
  local out = {}
  local bytes = 0
  while first <= last do
    local stop = math.min(first + 63, last)
    local step = redis.call('LRANGE', hist, first, stop)
    for i = 1, #step do
      if maxBytes > 0 and bytes > 0 and bytes + #step[i] > maxBytes then return out, entry_seq(step[i]) end
      out[#out + 1] = step[i]
      bytes = bytes + #step[i]
    end
    if #step <= stop - first then return out, 0 end
    first = stop + 1
  end
  return out, 0
end
`;

/**
 * KEYS: meta, history, keyed state. ARGV: since epoch ('' for none), since seq, historySize,
 * historyTtlMs, streamTtlMs, tail (1: when not every entry after since.seq is held, the ones that
 * are), snapshot (1: a keyed channel's state too, unless the read recovered), keyTtlMs, scan count
 * (0: the state in one reply; else its first HSCAN chunk, and after it the next cursor and now in ms),
 * chunk bytes (the entries' bytes in this reply, at least one entry; 0: all of them).
 * Returns { epoch, seq, recovered (1; 2: not every entry is held, but the stream continues since's
 * position, a provisional one included; 0: it does not), entries after since.seq (when recovered, or the tail),
 * the seq of the first entry left for HISTORY_CHUNK_SCRIPT (0: none), and with snapshot the
 * state's entries, read in the same step as the position }.
 */
export const HISTORY_SCRIPT = `${PROVISIONAL}${KEYED_READ}${READ_ENTRIES}
local t = redis.call('TIME')
local function read()
local now = now_ms(t)
local streamTtl = tonumber(ARGV[5])
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  local since = ARGV[1] ~= '' and ARGV[2] == '0' and provisional_ms(ARGV[1]) or nil
  local recovered = (since ~= nil and now - since < streamTtl) and 1 or 0
  return { '~' .. run_id() .. '.' .. string.format('%x', now), 0, recovered, {} }
end
local seq = tonumber(redis.call('HGET', KEYS[1], 's'))
if ARGV[1] ~= epoch then
  local since = provisional_ms(ARGV[1])
  local created = tonumber(string.sub(epoch, 1, -6), 16) * 1000 + math.floor(tonumber(string.sub(epoch, -5), 16) / 1000)
  if since == nil or created < since or created - since >= streamTtl then return { epoch, seq, 0, {} } end
end
local need = seq - tonumber(ARGV[2])
if need == 0 then return { epoch, seq, 1, {} } end
local tail = ARGV[6] == '1'
if need < 0 then return { epoch, seq, 0, {} } end
if need > tonumber(ARGV[3]) and not tail then return { epoch, seq, 2, {} } end
-- Entries are oldest first, the last one at seq: the first held, then skip those past historyTtlMs.
local first = -math.min(need, redis.call('LLEN', KEYS[2]))
local ttl = tonumber(ARGV[4])
local fresh = ttl == 0
while first < 0 and not fresh do
  local step = redis.call('LRANGE', KEYS[2], first, math.min(first + 63, -1))
  for i = 1, #step do
    local a = string.find(step[i], ':', 1, true)
    local b = string.find(step[i], ':', a + 1, true)
    fresh = now - tonumber(string.sub(step[i], a + 1, b - 1)) <= ttl
    if fresh then break end
    first = first + 1
  end
end
local recovered = first == -need and 1 or 2
if recovered == 2 and not tail then return { epoch, seq, 2, {} } end
if first == 0 then return { epoch, seq, recovered, {} } end
local entries, left = read_entries(KEYS[2], first, -1, tonumber(ARGV[10]))
return { epoch, seq, recovered, entries, left }
end
local out = read()
out[5] = out[5] or 0
if ARGV[7] == '1' and out[3] ~= 1 then
  local count = tonumber(ARGV[9])
  if count == 0 then
    out[6] = keyed_state(KEYS[3], now_ms(t), tonumber(ARGV[8]))
  else
    out[7], out[6] = keyed_scan(KEYS[3], 0, count)
    out[8] = now_ms(t)
  end
end
return out
`;

/**
 * The next chunk of a history read (HISTORY_SCRIPT answered part of it). KEYS: meta, history.
 * ARGV: the read's epoch, the seq of the first entry left, the read's seq, chunk bytes. Returns
 * { 0 } when the stream moved on beyond them (another epoch, or history no longer holds the first
 * one left: the caller reads again), else { 1, entries, the seq of the first entry left (0: none) }.
 * The list ends at the stream's seq, one entry per seq: the entry of seq s is at s - seq - 1.
 */
export const HISTORY_CHUNK_SCRIPT = `${READ_ENTRIES}
if redis.call('HGET', KEYS[1], 'e') ~= ARGV[1] then return { 0 } end
local seq = tonumber(redis.call('HGET', KEYS[1], 's'))
local from = tonumber(ARGV[2])
if seq - from + 1 > redis.call('LLEN', KEYS[2]) then return { 0 } end
local entries, left = read_entries(KEYS[2], from - seq - 1, tonumber(ARGV[3]) - seq - 1, tonumber(ARGV[4]))
if #entries == 0 or entry_seq(entries[1]) ~= from then return { 0 } end
return { 1, entries, left }
`;

/** Splits "<first>:<second>:<key JSON>\n<data>"; the key is undefined when empty; "!" before the key: a delete. */
function split(text: string): [first: string, second: string, key: string | undefined, data: string, del: boolean] {
  const i = text.indexOf(':');
  const j = text.indexOf(':', i + 1);
  const nl = text.indexOf('\n', j + 1);
  const del = text.charCodeAt(j + 1) === 33;
  const keyJson = text.slice(del ? j + 2 : j + 1, nl);
  return [text.slice(0, i), text.slice(i + 1, j), keyJson === '' ? undefined : (JSON.parse(keyJson) as string), text.slice(nl + 1), del];
}

/** A history entry (or a keyed state's): "<seq>:<published ms>:<key JSON>\n<data>". */
export function parseHistoryEntry(text: string): { seq: number; at: number; key: string | undefined; data: string; del: boolean } {
  const [seq, at, key, data, del] = split(text);
  return { seq: Number(seq), at: Number(at), key, data, del };
}

/** A live pub/sub message: "<epoch>:<seq>:<key JSON>\n<data>". */
export function parseLiveMessage(text: string): { epoch: string; seq: number; key: string | undefined; data: string; del: boolean } {
  const [epoch, seq, key, data, del] = split(text);
  return { epoch, seq: Number(seq), key, data, del };
}

export function encodeBody(key: string | undefined, rawData: string, del = false): string {
  return `${del ? '!' : ''}${key === undefined ? '' : JSON.stringify(key)}\n${rawData}`;
}

/** The names of a channel's keys and pub/sub channel under a key prefix (see the top of this file). */
export class KeyNames {
  constructor(
    private readonly prefix: string,
    /** Shard channels, hash-tagged like the keys (Redis Cluster). */
    private readonly sharded = false,
  ) {}

  topic(channel: string): string {
    return this.sharded ? `${this.prefix}{${channel}}:m` : `${this.prefix}m:${channel}`;
  }

  /** The channel a pub/sub channel named by `topic` belongs to. */
  channelOf(topic: string): string {
    return this.sharded ? topic.slice(this.prefix.length + 1, -3) : topic.slice(this.prefix.length + 2);
  }

  meta(channel: string): string {
    return `${this.prefix}{${channel}}:s`;
  }

  history(channel: string): string {
    return `${this.prefix}{${channel}}:h`;
  }

  /** A keyed channel's state (redis-keyed.ts). */
  keyed(channel: string): string {
    return `${this.prefix}{${channel}}:k`;
  }

  publicationId(channel: string, pid: string): string {
    return `${this.prefix}{${channel}}:p:${pid}`;
  }
}
