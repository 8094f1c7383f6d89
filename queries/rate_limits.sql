-- name: LockRateLimits :many
-- Creates the missing buckets (tat in the past: full) and locks every one for this transaction;
-- keys must be distinct and sorted so that concurrent callers lock in one order.
INSERT INTO rate_limits (key, tat)
SELECT k, @empty::timestamptz FROM unnest(@keys::bytea[]) AS k
ON CONFLICT (key) DO UPDATE SET key = excluded.key
RETURNING key, tat;

-- name: SetRateLimits :exec
UPDATE rate_limits r SET tat = u.tat
FROM (SELECT unnest(@keys::bytea[]) AS key, unnest(@tats::timestamptz[]) AS tat) u
WHERE r.key = u.key;

-- name: RateLimitTat :one
SELECT tat FROM rate_limits WHERE key = $1;

-- name: MarkRateLimit :exec
INSERT INTO rate_limits (key, tat) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET tat = GREATEST(rate_limits.tat, excluded.tat);

-- name: SweepRateLimits :execrows
-- Rows a check holds locked are skipped (SKIP LOCKED), so a sweep never waits for, or
-- deadlocks with, checks that lock their keys in sorted order.
DELETE FROM rate_limits WHERE key IN (
    SELECT r.key FROM rate_limits r WHERE r.tat < $1 LIMIT 5000 FOR UPDATE SKIP LOCKED);

-- name: BeatSocketHolder :exec
INSERT INTO socket_holders (holder, expires_at) VALUES ($1, $2)
ON CONFLICT (holder) DO UPDATE SET expires_at = excluded.expires_at;

-- name: LockSocketSession :exec
SELECT pg_advisory_xact_lock(@lock::bigint);

-- name: DropDeadSocketLeases :exec
-- Forgets the session's sockets whose holder (gateway process) is gone.
DELETE FROM socket_leases l
WHERE l.session = @session
  AND NOT EXISTS (SELECT 1 FROM socket_holders h WHERE h.holder = l.holder AND h.expires_at > @now);

-- name: CountSocketLeases :one
SELECT count(*) FROM socket_leases WHERE session = $1;

-- name: InsertSocketLease :exec
INSERT INTO socket_leases (id, session, holder) VALUES ($1, $2, $3);

-- name: DeleteSocketLeases :exec
DELETE FROM socket_leases WHERE id = ANY(@ids::uuid[]);

-- name: DeleteSocketHolder :exec
DELETE FROM socket_holders WHERE holder = $1;

-- name: SweepSocketHolders :exec
-- Drops the leases and rows of holders dead for longer than the grace period.
WITH dead AS (DELETE FROM socket_holders WHERE expires_at < $1 RETURNING holder)
DELETE FROM socket_leases WHERE holder IN (SELECT holder FROM dead);

-- name: AsyncCommit :exec
-- Limit state need not survive a database crash (losing a few milliseconds of counts only
-- refills buckets a little early): the transaction does not wait for its WAL flush.
SELECT set_config('synchronous_commit', 'off', true);

-- name: AllowRateLimits :one
-- GCRA over the buckets of keys (sorted, distinct), all or none, in one statement
-- (rate_limit_allow, migration 0031): refused is the 1-based position of the key that refuses
-- with the longest wait (0: allowed), wait_us that wait in microseconds.
SELECT a.refused::int AS refused, a.wait_us::bigint AS wait_us
FROM rate_limit_allow(@keys::bytea[], @intervals_us::bigint[], @tolerances_us::bigint[], @now::timestamptz) a;
