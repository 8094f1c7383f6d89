-- +goose Up
-- A proactive WhatsApp message carries the approved template (name, language, rendered body
-- parameters) that dispatch sends instead if the person is outside the 24-hour window.
ALTER TABLE messages ADD COLUMN template jsonb;

-- Pausing a program or an enrollment stops its clock: on resume the remaining steps shift by
-- the time it was paused (enrolled_at moves forward), so they neither bunch up nor expire.
ALTER TABLE programs ADD COLUMN paused_at timestamptz;
ALTER TABLE program_enrollments ADD COLUMN paused_at timestamptz;

-- A held program step is decided again with its own content: the step is part of the decision.
ALTER TABLE nudge_deliveries ADD COLUMN step integer NOT NULL DEFAULT 0;

-- An occurrence the scheduler reaches too late to be worth sending (it was down, or the
-- campaign was paused, for longer than the maximum hold) is recorded as missed, not expanded.
ALTER TABLE campaign_occurrences DROP CONSTRAINT campaign_occurrences_status_check,
    ADD CONSTRAINT campaign_occurrences_status_check
        CHECK (status IN ('pending', 'expanding', 'expanded', 'cancelled', 'missed'));

-- A paused or archived program sends nothing: its enrollments are not claimed. The claim runs
-- as the owner (SECURITY DEFINER), which needs its own policy to read programs.
CREATE POLICY nudge_scheduler ON programs FOR SELECT TO CURRENT_USER USING (true);
DROP FUNCTION nudge_claim_enrollments(timestamptz, double precision, integer);
-- +goose StatementBegin
CREATE FUNCTION nudge_claim_enrollments(p_now timestamptz, p_lease_seconds double precision, p_limit integer)
RETURNS TABLE (creator_id uuid, enrollment_id uuid)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE program_enrollments e
    SET lease_until = p_now + make_interval(secs => p_lease_seconds), updated_at = now()
    FROM (SELECT s.id FROM program_enrollments s JOIN programs p ON p.id = s.program_id
          WHERE s.status = 'active' AND s.next_at <= p_now
            AND (s.lease_until IS NULL OR s.lease_until < p_now)
            AND p.status = 'active'
          ORDER BY s.next_at
          LIMIT p_limit
          FOR UPDATE OF s SKIP LOCKED) due
    WHERE e.id = due.id
    RETURNING e.creator_id, e.id
$$;
-- +goose StatementEnd

DROP FUNCTION nudge_claim_held(timestamptz, double precision, integer);
-- +goose StatementBegin
CREATE FUNCTION nudge_claim_held(p_now timestamptz, p_lease_seconds double precision, p_limit integer)
RETURNS TABLE (creator_id uuid, occurrence_id uuid, end_user_id uuid, campaign_id uuid, enrollment_id uuid, holds integer,
               due_at timestamptz, step integer)
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
    RETURNING d.creator_id, d.occurrence_id, d.end_user_id, d.campaign_id, d.enrollment_id, d.holds, d.due_at, d.step
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION nudge_claim_enrollments(timestamptz, double precision, integer),
    nudge_claim_held(timestamptz, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nudge_claim_enrollments(timestamptz, double precision, integer),
    nudge_claim_held(timestamptz, double precision, integer) TO coachwire_app;

-- +goose Down
DROP FUNCTION nudge_claim_held(timestamptz, double precision, integer);
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
DROP FUNCTION nudge_claim_enrollments(timestamptz, double precision, integer);
-- +goose StatementBegin
CREATE FUNCTION nudge_claim_enrollments(p_now timestamptz, p_lease_seconds double precision, p_limit integer)
RETURNS TABLE (creator_id uuid, enrollment_id uuid)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE program_enrollments e
    SET lease_until = p_now + make_interval(secs => p_lease_seconds), updated_at = now()
    FROM (SELECT s.id FROM program_enrollments s
          WHERE s.status = 'active' AND s.next_at <= p_now
            AND (s.lease_until IS NULL OR s.lease_until < p_now)
          ORDER BY s.next_at
          LIMIT p_limit
          FOR UPDATE SKIP LOCKED) due
    WHERE e.id = due.id
    RETURNING e.creator_id, e.id
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION nudge_claim_enrollments(timestamptz, double precision, integer),
    nudge_claim_held(timestamptz, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nudge_claim_enrollments(timestamptz, double precision, integer),
    nudge_claim_held(timestamptz, double precision, integer) TO coachwire_app;
ALTER TABLE campaign_occurrences DROP CONSTRAINT campaign_occurrences_status_check,
    ADD CONSTRAINT campaign_occurrences_status_check CHECK (status IN ('pending', 'expanding', 'expanded', 'cancelled'));
DROP POLICY nudge_scheduler ON programs;
ALTER TABLE nudge_deliveries DROP COLUMN step;
ALTER TABLE messages DROP COLUMN template;
ALTER TABLE program_enrollments DROP COLUMN paused_at;
ALTER TABLE programs DROP COLUMN paused_at;
