-- The audit log (migration 0018). Rows are only ever inserted and read: the application role
-- has no UPDATE or DELETE grant on audit_log.

-- name: InsertAuditEntry :execrows
-- Appends one entry in the current tenant transaction, but only when that transaction has
-- changed something (it has a transaction id) or the entry is written regardless (always: a
-- failed sign-in, an export). The actor's label, when not given, is the member's email or the
-- API key's name as they are now, copied into the row.
INSERT INTO audit_log (creator_id, id, at, actor_type, actor_id, actor_label, action, target_type, target_id, ip, details)
SELECT sqlc.arg(creator_id), sqlc.arg(id), sqlc.arg(at), sqlc.arg(actor_type)::text, sqlc.narg(actor_id)::uuid,
       COALESCE(NULLIF(sqlc.arg(actor_label)::text, ''),
                CASE sqlc.arg(actor_type)::text
                    WHEN 'user' THEN (SELECT p.email FROM auth_member_profiles() p WHERE p.id = sqlc.narg(actor_id)::uuid)
                    WHEN 'api_key' THEN (SELECT k.name FROM api_keys k WHERE k.id = sqlc.narg(actor_id)::uuid)
                END, ''),
       sqlc.arg(action), sqlc.arg(target_type), sqlc.arg(target_id), sqlc.arg(ip), sqlc.arg(details)
WHERE sqlc.arg(always)::boolean OR pg_current_xact_id_if_assigned() IS NOT NULL;

-- name: ListAuditEntries :many
-- One page of the log, newest first, after the keyset (before_at, before_id) when given.
-- action matches exactly, action_prefix by prefix ("document." matches "document.deleted").
SELECT * FROM audit_log
WHERE (sqlc.narg(actor_id)::uuid IS NULL OR actor_id = sqlc.narg(actor_id)::uuid)
  AND (sqlc.narg(actor_label)::text IS NULL OR lower(actor_label) = lower(sqlc.narg(actor_label)::text))
  AND (sqlc.narg(action)::text IS NULL OR action = sqlc.narg(action)::text)
  AND (sqlc.narg(action_prefix)::text IS NULL OR starts_with(action, sqlc.narg(action_prefix)::text))
  AND (sqlc.narg(target_type)::text IS NULL OR target_type = sqlc.narg(target_type)::text)
  AND (sqlc.narg(target_id)::text IS NULL OR target_id = sqlc.narg(target_id)::text)
  AND (sqlc.narg(from_at)::timestamptz IS NULL OR at >= sqlc.narg(from_at)::timestamptz)
  AND (sqlc.narg(to_at)::timestamptz IS NULL OR at < sqlc.narg(to_at)::timestamptz)
  AND (sqlc.narg(before_at)::timestamptz IS NULL
       OR (at, id) < (sqlc.narg(before_at)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY at DESC, id DESC
LIMIT sqlc.arg(lim);
