-- +goose Up
-- Proactive coaching (issue 5): campaigns and their occurrences, the per-recipient decision log
-- of the send-policy engine, drip programs with enrollments, end-user tags and memory, and the
-- creator's send policy. Times compared with "now" are always passed in by the application
-- (its injectable clock), never read from now() in SQL, so tests can run months in seconds.

-- The creator's send policy. quiet_start/quiet_end are minutes of the recipient's local day
-- (equal: no quiet hours; start > end: the window spans midnight). cap_day/cap_week: at most
-- that many proactive messages per recipient (0: only the platform ceiling applies).
ALTER TABLE creators
    ADD COLUMN timezone         text     NOT NULL DEFAULT 'UTC',
    ADD COLUMN quiet_start      smallint NOT NULL DEFAULT 1320 CHECK (quiet_start BETWEEN 0 AND 1439),
    ADD COLUMN quiet_end        smallint NOT NULL DEFAULT 480 CHECK (quiet_end BETWEEN 0 AND 1439),
    ADD COLUMN nudge_cap_day    integer  NOT NULL DEFAULT 2 CHECK (nudge_cap_day >= 0),
    ADD COLUMN nudge_cap_week   integer  NOT NULL DEFAULT 7 CHECK (nudge_cap_week >= 0);

ALTER TABLE end_users ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
CREATE INDEX end_users_tags ON end_users USING gin (tags);
-- The audience expansion's keyset scan.
CREATE INDEX end_users_creator_id ON end_users (creator_id, id);

CREATE TABLE campaigns (
    id          uuid PRIMARY KEY,
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'cancelled', 'completed')),
    audience    jsonb NOT NULL DEFAULT '{}',
    content     jsonb NOT NULL,
    schedule    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_creator ON campaigns (creator_id, created_at DESC);

-- One row per time a campaign fires. The scheduler claims due rows (lease), expands the audience
-- in keyset pages and records the last end user published (cursor), so a replica dying mid-run
-- is resumed by another from the cursor.
CREATE TABLE campaign_occurrences (
    id           uuid PRIMARY KEY,
    creator_id   uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    campaign_id  uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    scheduled_at timestamptz NOT NULL,
    -- local_at is "HH:MM" on local_date for schedules in each recipient's local time.
    local_date   date,
    local_at     text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'expanding', 'expanded', 'cancelled')),
    cursor_id    uuid,
    targeted     integer NOT NULL DEFAULT 0,
    lease_owner  uuid,
    lease_until  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, scheduled_at)
);
CREATE INDEX campaign_occurrences_due ON campaign_occurrences (scheduled_at) WHERE status IN ('pending', 'expanding');

CREATE TABLE programs (
    id          uuid PRIMARY KEY,
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    name        text NOT NULL,
    keyword     text NOT NULL DEFAULT '',
    steps       jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX programs_keyword ON programs (creator_id, lower(keyword)) WHERE keyword <> '';

-- An end user's progress through a program: next_step is due at next_at.
CREATE TABLE program_enrollments (
    id             uuid PRIMARY KEY,
    creator_id     uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    program_id     uuid NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    end_user_id    uuid NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'completed', 'cancelled')),
    next_step      integer NOT NULL DEFAULT 0,
    next_at        timestamptz,
    enrolled_at    timestamptz NOT NULL,
    last_step      integer NOT NULL DEFAULT -1,
    last_step_at   timestamptz,
    lease_until    timestamptz,
    history        jsonb NOT NULL DEFAULT '[]',
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (program_id, end_user_id)
);
CREATE INDEX program_enrollments_due ON program_enrollments (next_at) WHERE status = 'active';

-- The decision log: one row per (occurrence, recipient). occurrence_id is a campaign occurrence
-- or, for a program step, UUIDv5(enrollment, step). The primary key is what makes a send happen
-- at most once whatever the redeliveries and replica crashes.
CREATE TABLE nudge_deliveries (
    occurrence_id uuid NOT NULL,
    end_user_id   uuid NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    creator_id    uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    campaign_id   uuid REFERENCES campaigns (id) ON DELETE CASCADE,
    enrollment_id uuid REFERENCES program_enrollments (id) ON DELETE CASCADE,
    status        text NOT NULL CHECK (status IN ('sent', 'held', 'skipped')),
    reason        text NOT NULL DEFAULT '',
    mode          text NOT NULL DEFAULT '',
    hold_until    timestamptz,
    holds         integer NOT NULL DEFAULT 0,
    message_id    uuid,
    decided_at    timestamptz NOT NULL,
    PRIMARY KEY (occurrence_id, end_user_id)
);
CREATE INDEX nudge_deliveries_caps ON nudge_deliveries (creator_id, end_user_id, decided_at) WHERE status = 'sent';
CREATE INDEX nudge_deliveries_campaign ON nudge_deliveries (campaign_id, status, reason);
CREATE INDEX nudge_deliveries_held ON nudge_deliveries (hold_until) WHERE status = 'held';

-- What the coach remembers about an end user, extracted from conversations and editable by
-- the creator. extracted_seq is the last message seq the extraction read.
CREATE TABLE end_user_memory (
    end_user_id   uuid PRIMARY KEY REFERENCES end_users (id) ON DELETE CASCADE,
    creator_id    uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    profile       jsonb NOT NULL DEFAULT '{}',
    extracted_seq bigint NOT NULL DEFAULT 0,
    edited_by_creator boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['campaigns', 'campaign_occurrences', 'programs', 'program_enrollments', 'nudge_deliveries', 'end_user_memory'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
            WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- The scheduler's only cross-tenant access: owner-only policies let the SECURITY DEFINER claim
-- functions below (which run as the migration owner) see every creator's due work. The
-- application role is never the owner, so these policies never apply to it.
CREATE POLICY nudge_scheduler ON campaign_occurrences FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY nudge_scheduler ON campaigns FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY nudge_scheduler ON program_enrollments FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY nudge_scheduler ON nudge_deliveries FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- nudge_claim_occurrences leases up to p_limit due occurrences of active campaigns (pending, or
-- expanding with an expired lease: the replica expanding it died) to p_owner until
-- p_now + p_lease_seconds. Rows another replica is claiming are skipped. It returns only the
-- ids the caller needs to do the work inside the creator's tenant.
-- +goose StatementBegin
CREATE FUNCTION nudge_claim_occurrences(p_owner uuid, p_now timestamptz, p_lease_seconds double precision, p_limit integer)
RETURNS TABLE (creator_id uuid, occurrence_id uuid)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE campaign_occurrences o
    SET lease_owner = p_owner, lease_until = p_now + make_interval(secs => p_lease_seconds),
        status = 'expanding', updated_at = now()
    FROM (SELECT s.id FROM campaign_occurrences s JOIN campaigns c ON c.id = s.campaign_id
          WHERE s.status IN ('pending', 'expanding') AND s.scheduled_at <= p_now
            AND (s.lease_until IS NULL OR s.lease_until < p_now)
            AND c.status = 'active'
          ORDER BY s.scheduled_at
          LIMIT p_limit
          FOR UPDATE OF s SKIP LOCKED) due
    WHERE o.id = due.id
    RETURNING o.creator_id, o.id
$$;
-- +goose StatementEnd

-- nudge_claim_enrollments leases due program steps the same way.
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

-- nudge_claim_held leases held decisions whose hold has ended (quiet hours over, live
-- conversation over, recipient's local time reached) so they are decided again.
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

REVOKE ALL ON FUNCTION nudge_claim_occurrences(uuid, timestamptz, double precision, integer),
    nudge_claim_enrollments(timestamptz, double precision, integer),
    nudge_claim_held(timestamptz, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nudge_claim_occurrences(uuid, timestamptz, double precision, integer),
    nudge_claim_enrollments(timestamptz, double precision, integer),
    nudge_claim_held(timestamptz, double precision, integer) TO coachwire_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON campaigns, campaign_occurrences, programs, program_enrollments,
    nudge_deliveries, end_user_memory TO coachwire_app;

-- +goose Down
DROP FUNCTION nudge_claim_held(timestamptz, double precision, integer);
DROP FUNCTION nudge_claim_enrollments(timestamptz, double precision, integer);
DROP FUNCTION nudge_claim_occurrences(uuid, timestamptz, double precision, integer);
DROP TABLE end_user_memory, nudge_deliveries, program_enrollments, programs, campaign_occurrences, campaigns;
DROP INDEX end_users_creator_id;
DROP INDEX end_users_tags;
ALTER TABLE end_users DROP COLUMN tags;
ALTER TABLE creators DROP COLUMN timezone, DROP COLUMN quiet_start, DROP COLUMN quiet_end,
    DROP COLUMN nudge_cap_day, DROP COLUMN nudge_cap_week;
