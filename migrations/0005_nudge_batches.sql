-- +goose Up
-- Decisions are taken a batch of recipients per transaction (see internal/nudge/batch.go).
-- due_at is when the send was due for this person (the occurrence, or the person's local time):
-- a held decision decided again later still expires counting from it.
ALTER TABLE nudge_deliveries ADD COLUMN due_at timestamptz;

-- seq is an identity column (unique by construction) and every query reads it per conversation
-- through messages_conversation_seq: a second unique index only slowed every insert.
DROP INDEX messages_seq;

DROP FUNCTION nudge_claim_held(timestamptz, double precision, integer);

-- nudge_claim_held leases held decisions whose hold has ended (quiet hours over, live
-- conversation over, recipient's local time reached) so they are decided again.
-- +goose StatementBegin
CREATE FUNCTION nudge_claim_held(p_now timestamptz, p_lease_seconds double precision, p_limit integer)
RETURNS TABLE (creator_id uuid, occurrence_id uuid, end_user_id uuid, campaign_id uuid, enrollment_id uuid, holds integer,
               due_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE nudge_deliveries d
    SET hold_until = p_now + make_interval(secs => p_lease_seconds), holds = d.holds + 1
    FROM (SELECT s.occurrence_id, s.end_user_id FROM nudge_deliveries s
          WHERE s.status = 'held' AND s.hold_until <= p_now
          ORDER BY s.hold_until
          LIMIT p_limit
          FOR UPDATE SKIP LOCKED) due
    WHERE d.occurrence_id = due.occurrence_id AND d.end_user_id = due.end_user_id
    RETURNING d.creator_id, d.occurrence_id, d.end_user_id, d.campaign_id, d.enrollment_id, d.holds, d.due_at
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION nudge_claim_held(timestamptz, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nudge_claim_held(timestamptz, double precision, integer) TO coachwire_app;

-- +goose Down
DROP FUNCTION nudge_claim_held(timestamptz, double precision, integer);
-- +goose StatementBegin
CREATE FUNCTION nudge_claim_held(p_now timestamptz, p_lease_seconds double precision, p_limit integer)
RETURNS TABLE (creator_id uuid, occurrence_id uuid, end_user_id uuid, campaign_id uuid, enrollment_id uuid, holds integer)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE nudge_deliveries d
    SET hold_until = p_now + make_interval(secs => p_lease_seconds), holds = d.holds + 1
    FROM (SELECT s.occurrence_id, s.end_user_id FROM nudge_deliveries s
          WHERE s.status = 'held' AND s.hold_until <= p_now
          ORDER BY s.hold_until
          LIMIT p_limit
          FOR UPDATE SKIP LOCKED) due
    WHERE d.occurrence_id = due.occurrence_id AND d.end_user_id = due.end_user_id
    RETURNING d.creator_id, d.occurrence_id, d.end_user_id, d.campaign_id, d.enrollment_id, d.holds
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION nudge_claim_held(timestamptz, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nudge_claim_held(timestamptz, double precision, integer) TO coachwire_app;
ALTER TABLE nudge_deliveries DROP COLUMN due_at;
CREATE UNIQUE INDEX messages_seq ON messages (seq);
