//! Lua scripts run with EVALSHA, so that each multi-step change is atomic.
//!
//! Timestamps are Unix milliseconds sent by the client as ARGV. Lua 5.1
//! numbers are doubles, so expiry times computed in a script are formatted
//! with `%.0f` to store them as integer strings, as the client writes them.

use std::sync::LazyLock;

use redis::Script;

/// Reads a live access token and its family.
///
/// KEYS: access token key. ARGV: now, family key prefix (`PREFIX family:`).
/// Returns nil or {family id, subject, claims JSON, expires_at}.
pub static VERIFY_ACCESS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local token = redis.call('HMGET', KEYS[1], 'family', 'expires_at')
if not token[1] or tonumber(token[2]) <= tonumber(ARGV[1]) then
  return false
end
local family = redis.call('HMGET', ARGV[2] .. token[1], 'subject', 'claims')
if not family[1] then
  return false
end
return {token[1], family[1], family[2], token[2]}
"#,
    )
});

/// Rotates a refresh token, or revokes its family when it was already used.
///
/// KEYS: presented refresh key, new access key, new refresh key.
/// ARGV: now, family key prefix (`PREFIX family:`).
/// Returns {'invalid'}, {'reused', family id} or
/// {'ok', family id, access expires_at, refresh expires_at}.
pub static ROTATE_REFRESH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local now = tonumber(ARGV[1])
local token = redis.call('HMGET', KEYS[1], 'family', 'expires_at', 'used')
if not token[1] or tonumber(token[2]) <= now then
  return {'invalid'}
end
local family = ARGV[2] .. token[1]
local members = family .. ':tokens'
if token[3] == '1' then
  for _, key in ipairs(redis.call('SMEMBERS', members)) do
    redis.call('DEL', key)
  end
  redis.call('DEL', family, members)
  return {'reused', token[1]}
end
local ttl = redis.call('HMGET', family, 'access_ttl_ms', 'refresh_ttl_ms')
if not ttl[1] then
  return {'invalid'}
end
local access_ttl = tonumber(ttl[1])
local refresh_ttl = tonumber(ttl[2])
local access_expires = string.format('%.0f', now + access_ttl)
local refresh_expires = string.format('%.0f', now + refresh_ttl)
redis.call('HSET', KEYS[1], 'used', '1')
redis.call('HSET', KEYS[2], 'family', token[1], 'expires_at', access_expires)
redis.call('PEXPIRE', KEYS[2], access_ttl)
redis.call('HSET', KEYS[3], 'family', token[1], 'expires_at', refresh_expires, 'used', '0')
redis.call('PEXPIRE', KEYS[3], refresh_ttl)
for _, key in ipairs(redis.call('SMEMBERS', members)) do
  if redis.call('EXISTS', key) == 0 then
    redis.call('SREM', members, key)
  end
end
redis.call('SADD', members, KEYS[2], KEYS[3])
local keep = math.max(access_ttl, refresh_ttl, redis.call('PTTL', family))
redis.call('PEXPIRE', family, keep)
redis.call('PEXPIRE', members, keep)
return {'ok', token[1], access_expires, refresh_expires}
"#,
    )
});

/// Deletes a family and every token in it.
///
/// KEYS: family key, family members key. Returns 1 when the family existed.
pub static REVOKE_FAMILY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('DEL', key)
end
redis.call('DEL', KEYS[2])
return redis.call('DEL', KEYS[1])
"#,
    )
});

/// Replaces the data of a live session and keeps its expiry.
///
/// KEYS: session key. ARGV: now, data JSON. Returns nil or expires_at.
pub static UPDATE_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local expires_at = redis.call('HGET', KEYS[1], 'expires_at')
if not expires_at or tonumber(expires_at) <= tonumber(ARGV[1]) then
  return false
end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
return expires_at
"#,
    )
});

/// Moves the expiry of a live session to now + TTL.
///
/// KEYS: session key. ARGV: now, TTL, new expires_at. Returns nil or data JSON.
pub static TOUCH_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local session = redis.call('HMGET', KEYS[1], 'data', 'expires_at')
if not session[1] or tonumber(session[2]) <= tonumber(ARGV[1]) then
  return false
end
redis.call('HSET', KEYS[1], 'expires_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return session[1]
"#,
    )
});

/// Counts a request in a fixed window that starts with the first request.
///
/// KEYS: counter key. ARGV: limit, window.
/// Returns {allowed (0 or 1), count, milliseconds left in the window}.
pub static RATE_LIMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local limit = tonumber(ARGV[1])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local allowed = 0
if count < limit then
  count = redis.call('INCR', KEYS[1])
  allowed = 1
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  left = tonumber(ARGV[2])
end
return {allowed, count, left}
"#,
    )
});
