-- Atomic compare-and-set batch for the Switchboard directory (one scope = one hash slot).
-- KEYS[1] scope version counter, KEYS[2] scope key index (sorted set), KEYS[3..] data keys
-- ARGV[1] number of checks, ARGV[2] notification channel, ARGV[3] scope name
-- then per check: data-key index (into KEYS), expected version ("0" = absent)
-- then per op:    "p" or "d", data-key index, index member (the bare key), value ("" for "d")
-- Returns {1, new_version} or {0, failed_key_index, found_version (0 = absent)}.
-- The index is updated with one ZADD (or ZREM) per run of consecutive puts (or deletes), in
-- op order, so a later op on a key still wins and a batch of N puts costs one index call.
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
-- Pending index arguments of the current run ("0 member" pairs for puts, members for deletes).
local run, kind = {}, nil
local function flush()
  if #run > 0 then
    if kind == 'p' then
      redis.call('ZADD', KEYS[2], unpack(run))
    else
      redis.call('ZREM', KEYS[2], unpack(run))
    end
    run = {}
  end
end
while a <= #ARGV do
  local op = ARGV[a]
  local k = KEYS[tonumber(ARGV[a + 1])]
  if op ~= kind or #run >= 1000 then
    flush()
    kind = op
  end
  if op == 'p' then
    redis.call('HSET', k, 'v', ver, 'd', ARGV[a + 3])
    run[#run + 1] = 0
    run[#run + 1] = ARGV[a + 2]
  else
    redis.call('DEL', k)
    run[#run + 1] = ARGV[a + 2]
  end
  a = a + 4
end
flush()
redis.call('PUBLISH', ARGV[2], ver .. ' ' .. ARGV[3])
return {1, ver}
