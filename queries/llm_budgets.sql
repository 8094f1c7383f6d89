-- name: LLMBudgetState :one
-- The creator's own limit of a kind (NULL: the configured default) and what it used that day.
SELECT b.daily_tokens, COALESCE(u.tokens, 0)::bigint AS tokens, COALESCE(u.calls, 0)::bigint AS calls
FROM (SELECT @creator_id::uuid AS creator_id, @kind::text AS kind, @day::date AS day) k
LEFT JOIN llm_budgets b ON b.creator_id = k.creator_id AND b.kind = k.kind
LEFT JOIN llm_usage u ON u.creator_id = k.creator_id AND u.kind = k.kind AND u.day = k.day;

-- name: AddLLMUsage :exec
INSERT INTO llm_usage (creator_id, day, kind, tokens, calls)
VALUES (@creator_id, @day, @kind, @tokens, 1)
ON CONFLICT (creator_id, day, kind) DO UPDATE
SET tokens = llm_usage.tokens + EXCLUDED.tokens, calls = llm_usage.calls + 1, updated_at = now();

-- name: SetLLMBudget :exec
-- daily_tokens NULL returns the creator to the configured default, 0 is unlimited.
INSERT INTO llm_budgets (creator_id, kind, daily_tokens)
VALUES (@creator_id, @kind, sqlc.narg(daily_tokens)::bigint)
ON CONFLICT (creator_id, kind) DO UPDATE SET daily_tokens = EXCLUDED.daily_tokens, updated_at = now();

-- name: ListLLMUsage :many
SELECT * FROM llm_usage WHERE day >= @since::date ORDER BY day, kind;

-- name: SetNudgeDeliveryReason :execrows
-- Why a sent AI nudge was not written by the model (its status stays 'sent').
UPDATE nudge_deliveries SET reason = @reason
WHERE occurrence_id = @occurrence_id AND end_user_id = @end_user_id AND message_id = @message_id;

-- name: CampaignSentReasons :many
-- The sent decisions that carry a reason (an AI nudge sent as its fallback text, and why).
SELECT reason, count(*)::bigint AS n FROM nudge_deliveries
WHERE campaign_id = @campaign_id AND status = 'sent' AND reason <> ''
GROUP BY reason ORDER BY reason;

-- name: WaitDocument :execrows
-- Parks a document until wait_until (its embedding budget is spent), keeping its progress
-- (chunk_count, chunks_done, search_mode) so that indexing resumes where it stopped.
UPDATE documents SET status = 'queued', error = @reason, wait_until = @wait_until, updated_at = now()
WHERE id = @id AND version = @version AND status NOT IN ('indexed', 'failed', 'deleting');

-- name: ClaimWaitingDocuments :many
SELECT c.creator_id::uuid AS creator_id, c.document_id::uuid AS document_id, c.version::integer AS version
FROM ingest_claim_waiting(@now::timestamptz, @lim::integer) AS c;
