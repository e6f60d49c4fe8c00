-- Atomic compare-and-set batch for the Switchboard directory (one scope = one hash slot).
-- KEYS[1] scope version counter, KEYS[2] scope key index (sorted set), KEYS[3..] data keys
-- ARGV[1] number of checks, ARGV[2] notification channel, ARGV[3] scope name
-- then per check: data-key index (into KEYS), expected version ("0" = absent)
-- then per op:    "p" or "d", data-key index, index member (the bare key), value ("" for "d")
-- Returns {1, new_version} or {0, failed_key_index, found_version (0 = absent)}.
local nchecks = tonumber(ARGV[1])
local a = 4
for _ = 1, nchecks do
  local idx = tonumber(ARGV[a])
  local want = tonumber(ARGV[a + 1])
  local have = tonumber(redis.call('HGET', KEYS[idx], 'v') or '0')
  if have ~= want then
    return {0, idx, have}
  end
  a = a + 2
end
local ver = redis.call('INCR', KEYS[1])
while a <= #ARGV do
  local k = KEYS[tonumber(ARGV[a + 1])]
  if ARGV[a] == 'p' then
    redis.call('HSET', k, 'v', ver, 'd', ARGV[a + 3])
    redis.call('ZADD', KEYS[2], 0, ARGV[a + 2])
  else
    redis.call('DEL', k)
    redis.call('ZREM', KEYS[2], ARGV[a + 2])
  end
  a = a + 4
end
redis.call('PUBLISH', ARGV[2], ver .. ' ' .. ARGV[3])
return {1, ver}
