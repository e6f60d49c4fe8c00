-- Consistent prefix-scan page for the Switchboard directory.
-- KEYS[1] scope key index (sorted set, all scores 0, ordered by member bytes)
-- ARGV[1] lex min ("[prefix" or "(after"), ARGV[2] lex max, ARGV[3] limit,
-- ARGV[4] data-key prefix (same hash tag as KEYS[1], so the same slot on Redis Cluster)
-- Returns a flat list: member, version, value, member, version, value, ...
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(members) do
  local vd = redis.call('HMGET', ARGV[4] .. m, 'v', 'd')
  if vd[1] then
    out[#out + 1] = m
    out[#out + 1] = vd[1]
    out[#out + 1] = vd[2]
  end
end
return out
