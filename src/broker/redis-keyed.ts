/**
 * The Lua of keyed channels on Redis (docs/keyed.md), spliced into the scripts of redis-scripts.ts.
 * A keyed channel's state is one hash per channel, on the slot of its other keys:
 *   <prefix>{<channel>}:k  hash  field = the key as JSON, value = the publication's history entry
 *                                "<seq>:<ms>:<body>" (PEXPIRE streamTtlMs with the meta hash)
 * and the meta hash's field `kb` counts the bytes of the values held (what keyedMaxBytes bounds).
 * A body that deletes its key starts with "!" ("!<key JSON>\n<data>").
 */

/**
 * keyed_admits: whether a publication fits maxKeys / maxBytes (0: no bound); keyed_apply: records
 * it. With a key TTL, a publication that does not fit first forgets the entries past it
 * (keyed_purge: a scan of the hash, at most once per ttl / 4 per channel, time kept in the meta
 * hash's field `kp`), so expired keys stop counting against the bounds, as on the memory broker.
 */
export const KEYED_PUBLISH = `
local function keyed_parse(body)
  local nl = string.find(body, '\\n', 1, true)
  local del = string.byte(body, 1) == 33
  return string.sub(body, del and 2 or 1, nl - 1), del, #body - nl
end
local function keyed_value_bytes(entry)
  if not entry then return 0 end
  return #entry - string.find(entry, '\\n', 1, true)
end
local function keyed_fits(hash, meta, field, bytes, maxKeys, maxBytes)
  local old = redis.call('HGET', hash, field)
  if not old and maxKeys > 0 and redis.call('HLEN', hash) >= maxKeys then return false end
  if maxBytes == 0 then return true end
  local held = tonumber(redis.call('HGET', meta, 'kb') or '0')
  return held - keyed_value_bytes(old) + bytes <= maxBytes
end
local function keyed_purge(hash, meta, now, ttl)
  if now - tonumber(redis.call('HGET', meta, 'kp') or '0') < ttl / 4 then return end
  redis.call('HSET', meta, 'kp', now)
  local all = redis.call('HGETALL', hash)
  local freed = 0
  for i = 1, #all, 2 do
    local entry = all[i + 1]
    local a = string.find(entry, ':', 1, true)
    local b = string.find(entry, ':', a + 1, true)
    if now - tonumber(string.sub(entry, a + 1, b - 1)) > ttl then
      redis.call('HDEL', hash, all[i])
      freed = freed + keyed_value_bytes(entry)
    end
  end
  if freed > 0 then redis.call('HINCRBY', meta, 'kb', -freed) end
end
local function keyed_admits(hash, meta, body, maxKeys, maxBytes, now, ttl)
  local field, del, bytes = keyed_parse(body)
  if del or keyed_fits(hash, meta, field, bytes, maxKeys, maxBytes) then return true end
  if ttl <= 0 then return false end
  keyed_purge(hash, meta, now, ttl)
  return keyed_fits(hash, meta, field, bytes, maxKeys, maxBytes)
end
local function keyed_apply(hash, meta, body, entry)
  local field, del, bytes = keyed_parse(body)
  local change = -keyed_value_bytes(redis.call('HGET', hash, field))
  if del then
    redis.call('HDEL', hash, field)
  else
    redis.call('HSET', hash, field, entry)
    change = change + bytes
  end
  if change ~= 0 then redis.call('HINCRBY', meta, 'kb', change) end
end
`;

/**
 * keyed_state: the entries of the hash not older than ttl ms (0: all), in one reply; keyed_scan:
 * one HSCAN step of it, { next cursor, entries } (the node filters by age: see redis-snapshot.ts).
 */
export const KEYED_READ = `
local function keyed_scan(hash, cursor, count)
  local r = redis.call('HSCAN', hash, cursor, 'COUNT', count)
  local values = {}
  for i = 2, #r[2], 2 do values[#values + 1] = r[2][i] end
  return r[1], values
end
local function keyed_state(hash, now, ttl)
  local values = redis.call('HVALS', hash)
  if ttl == 0 then return values end
  local fresh = {}
  for _, entry in ipairs(values) do
    local a = string.find(entry, ':', 1, true)
    local b = string.find(entry, ':', a + 1, true)
    if now - tonumber(string.sub(entry, a + 1, b - 1)) <= ttl then fresh[#fresh + 1] = entry end
  end
  return fresh
end
`;

/**
 * The next step of a snapshot read in chunks (redis-snapshot.ts). KEYS: meta, history, keyed state.
 * ARGV: cursor, count, the epoch and seq the read began at. Returns { 0 } when the stream is no
 * longer that epoch, or when its history no longer holds every publication made since the read
 * began (the read starts again); { 1, cursor, entries } for a chunk with more to come; and for the
 * last chunk { 2, seq, entries, the history entries after the seq the read began at up to seq, now
 * in ms }, all read in this one step.
 */
export const SCAN_SCRIPT = `${KEYED_READ}
if redis.call('HGET', KEYS[1], 'e') ~= ARGV[3] then return { 0 } end
local seq = tonumber(redis.call('HGET', KEYS[1], 's'))
local cursor, values = keyed_scan(KEYS[3], ARGV[1], ARGV[2])
if cursor ~= '0' then return { 1, cursor, values } end
local need = seq - tonumber(ARGV[4])
local changes = {}
if need > 0 then
  changes = redis.call('LRANGE', KEYS[2], -need, -1)
  if #changes ~= need then return { 0 } end
end
local t = redis.call('TIME')
return { 2, seq, values, changes, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) }
`;
