-- +goose Up
-- Campaign figures per occurrence from a rollup (issue 12): the campaigns section read every
-- decision of the range's occurrences with its send and its person (a join per delivery:
-- 2.2 s for 12 months of a 1M-message creator). Now each campaign decision counts in one row
-- of analytics_campaign_counts, keyed by its occurrence, the channel of its send ('' without
-- one), its skip reason (skipped decisions) and its provider code (failed sends); a range
-- reads a few rows per occurrence.
--
-- What a decision counts (the raw rule, as AnalyticsCampaignOccurrences had it): sent, held,
-- skipped by its status; for a sent decision whose send is in analytics_sends: delivered
-- (delivered or read), read, failed (failed or window_closed), replied within 24 h
-- (analytics_sends.replied), opted out after (the person's opted_out_at now is after the send).
--
-- Kept exact by analytics_campaign_refresh, which every change of an input calls for the
-- decisions it touches (statement triggers on nudge_deliveries and analytics_sends, a row
-- trigger on end_users' opted_out_at): it recomputes their counts from the current rows,
-- subtracts what analytics_campaign_state says they counted before and adds the new counts.
-- Refreshes of one occurrence take a transaction advisory lock, and each statement of a
-- refresh reads the rows committed before it took the lock, so two transactions that change
-- different inputs of one decision (dispatch's status, an opt-out, the scheduler's decision)
-- end with the counts of both changes, in whichever order they commit. A decision deleted
-- (a campaign deleted, an end user erased) is subtracted by its refresh: the counts stay
-- exact and analytics_campaign_state, the only row naming the person, goes with it.

-- Tenant references name the creator (migration 0012).
ALTER TABLE campaign_occurrences ADD CONSTRAINT campaign_occurrences_creator_id_id UNIQUE (creator_id, id);

CREATE TABLE analytics_campaign_counts (
    occurrence_id uuid NOT NULL,
    channel       text NOT NULL,
    skip_reason   text NOT NULL,
    fail_code     text NOT NULL,
    creator_id    uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    sent          integer NOT NULL DEFAULT 0,
    held          integer NOT NULL DEFAULT 0,
    skipped       integer NOT NULL DEFAULT 0,
    delivered     integer NOT NULL DEFAULT 0,
    read          integer NOT NULL DEFAULT 0,
    failed        integer NOT NULL DEFAULT 0,
    replied       integer NOT NULL DEFAULT 0,
    opted_out     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (occurrence_id, channel, skip_reason, fail_code),
    FOREIGN KEY (creator_id, occurrence_id) REFERENCES campaign_occurrences (creator_id, id) ON DELETE CASCADE
);

-- What each campaign decision counts now (one row per decision; written and read only by
-- analytics_campaign_refresh).
CREATE TABLE analytics_campaign_state (
    occurrence_id uuid NOT NULL,
    end_user_id   uuid NOT NULL,
    creator_id    uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel       text NOT NULL,
    skip_reason   text NOT NULL,
    fail_code     text NOT NULL,
    sent          integer NOT NULL,
    held          integer NOT NULL,
    skipped       integer NOT NULL,
    delivered     integer NOT NULL,
    read          integer NOT NULL,
    failed        integer NOT NULL,
    replied       integer NOT NULL,
    opted_out     integer NOT NULL,
    PRIMARY KEY (occurrence_id, end_user_id),
    FOREIGN KEY (creator_id, occurrence_id) REFERENCES campaign_occurrences (creator_id, id) ON DELETE CASCADE
);

-- A send's decision (the triggers on analytics_sends).
CREATE INDEX nudge_deliveries_message ON nudge_deliveries (message_id) WHERE message_id IS NOT NULL;

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['analytics_campaign_counts', 'analytics_campaign_state'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
            WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd
GRANT SELECT, INSERT, UPDATE, DELETE ON analytics_campaign_counts, analytics_campaign_state TO coachwire_app;

-- analytics_campaign_refresh recounts the campaign decisions (p_occ[i], p_user[i]); the
-- others (program steps) are skipped.
-- +goose StatementBegin
CREATE FUNCTION analytics_campaign_refresh(p_occ uuid[], p_user uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(p_occ), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('analytics_campaign:' || o::text, 0))
    FROM (SELECT DISTINCT o FROM unnest(p_occ) o ORDER BY 1) x;
    -- A new statement: it reads what committed before the locks were taken.
    WITH k AS (
        SELECT DISTINCT k.o, k.u FROM unnest(p_occ, p_user) k(o, u)
    ), cur AS (
        SELECT n.occurrence_id, n.end_user_id, n.creator_id, coalesce(s.channel, '') AS channel,
               CASE WHEN n.status = 'skipped' THEN n.reason ELSE '' END AS skip_reason,
               CASE WHEN s.status IN ('failed', 'window_closed') THEN s.error_code ELSE '' END AS fail_code,
               (n.status = 'sent')::int AS sent, (n.status = 'held')::int AS held, (n.status = 'skipped')::int AS skipped,
               coalesce(s.status IN ('delivered', 'read'), false)::int AS delivered, coalesce(s.status = 'read', false)::int AS read,
               coalesce(s.status IN ('failed', 'window_closed'), false)::int AS failed, coalesce(s.replied, false)::int AS replied,
               coalesce(e.opted_out_at > s.sent_at, false)::int AS opted_out
        FROM k JOIN nudge_deliveries n ON n.occurrence_id = k.o AND n.end_user_id = k.u
            -- the tenant's own (the schema owner, outside a tenant, sees every decision but may
            -- write no rollup row)
            AND n.creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid
        JOIN campaign_occurrences oc ON oc.id = n.occurrence_id
        LEFT JOIN analytics_sends s ON s.message_id = n.message_id AND n.status = 'sent'
        LEFT JOIN end_users e ON e.id = n.end_user_id
    ), old AS (
        SELECT st.* FROM analytics_campaign_state st JOIN k ON st.occurrence_id = k.o AND st.end_user_id = k.u
    ), gone AS (
        DELETE FROM analytics_campaign_state st USING k
        WHERE st.occurrence_id = k.o AND st.end_user_id = k.u
          AND NOT EXISTS (SELECT 1 FROM cur WHERE cur.occurrence_id = k.o AND cur.end_user_id = k.u)
    ), kept AS (
        INSERT INTO analytics_campaign_state AS st (occurrence_id, end_user_id, creator_id, channel, skip_reason, fail_code,
                                                    sent, held, skipped, delivered, read, failed, replied, opted_out)
        SELECT * FROM cur ORDER BY 1, 2
        ON CONFLICT (occurrence_id, end_user_id) DO UPDATE
            SET channel = EXCLUDED.channel, skip_reason = EXCLUDED.skip_reason, fail_code = EXCLUDED.fail_code, sent = EXCLUDED.sent,
                held = EXCLUDED.held, skipped = EXCLUDED.skipped, delivered = EXCLUDED.delivered, read = EXCLUDED.read,
                failed = EXCLUDED.failed, replied = EXCLUDED.replied, opted_out = EXCLUDED.opted_out
    ), d AS (
        SELECT occurrence_id, creator_id, channel, skip_reason, fail_code, -sent AS sent, -held AS held, -skipped AS skipped,
               -delivered AS delivered, -read AS read, -failed AS failed, -replied AS replied, -opted_out AS opted_out FROM old
        UNION ALL
        SELECT occurrence_id, creator_id, channel, skip_reason, fail_code, sent, held, skipped, delivered, read, failed, replied, opted_out FROM cur
    )
    INSERT INTO analytics_campaign_counts AS c (occurrence_id, channel, skip_reason, fail_code, creator_id,
                                                sent, held, skipped, delivered, read, failed, replied, opted_out)
    SELECT d.occurrence_id, d.channel, d.skip_reason, d.fail_code, min(d.creator_id::text)::uuid, sum(d.sent), sum(d.held), sum(d.skipped),
           sum(d.delivered), sum(d.read), sum(d.failed), sum(d.replied), sum(d.opted_out)
    FROM d
    -- an occurrence being deleted takes its counts with it
    WHERE EXISTS (SELECT 1 FROM campaign_occurrences oc WHERE oc.id = d.occurrence_id)
    GROUP BY 1, 2, 3, 4
    HAVING sum(d.sent) <> 0 OR sum(d.held) <> 0 OR sum(d.skipped) <> 0 OR sum(d.delivered) <> 0 OR sum(d.read) <> 0
        OR sum(d.failed) <> 0 OR sum(d.replied) <> 0 OR sum(d.opted_out) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (occurrence_id, channel, skip_reason, fail_code) DO UPDATE
        SET sent = c.sent + EXCLUDED.sent, held = c.held + EXCLUDED.held, skipped = c.skipped + EXCLUDED.skipped,
            delivered = c.delivered + EXCLUDED.delivered, read = c.read + EXCLUDED.read, failed = c.failed + EXCLUDED.failed,
            replied = c.replied + EXCLUDED.replied, opted_out = c.opted_out + EXCLUDED.opted_out;
END
$$;
-- +goose StatementEnd

-- The decisions written, changed (status, reason, send) or deleted.
-- +goose StatementBegin
CREATE FUNCTION analytics_campaign_decisions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    occ uuid[];
    usr uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(occurrence_id), array_agg(end_user_id) INTO occ, usr FROM new_rows WHERE campaign_id IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(occurrence_id), array_agg(end_user_id) INTO occ, usr FROM old_rows WHERE campaign_id IS NOT NULL;
    ELSE
        SELECT array_agg(n.occurrence_id), array_agg(n.end_user_id) INTO occ, usr
        FROM new_rows n JOIN old_rows o ON o.occurrence_id = n.occurrence_id AND o.end_user_id = n.end_user_id
        WHERE (n.campaign_id IS NOT NULL OR o.campaign_id IS NOT NULL)
          AND (n.status, n.reason, n.message_id, n.campaign_id) IS DISTINCT FROM (o.status, o.reason, o.message_id, o.campaign_id);
    END IF;
    PERFORM analytics_campaign_refresh(occ, usr);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_campaign_decisions_ins AFTER INSERT ON nudge_deliveries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_campaign_decisions();
CREATE TRIGGER analytics_campaign_decisions_upd AFTER UPDATE ON nudge_deliveries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_campaign_decisions();
CREATE TRIGGER analytics_campaign_decisions_del AFTER DELETE ON nudge_deliveries REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_campaign_decisions();

-- The sends written (analytics_apply), their delivery status and reply changed, or deleted.
-- +goose StatementBegin
CREATE FUNCTION analytics_campaign_sends() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    occ uuid[];
    usr uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(d.occurrence_id), array_agg(d.end_user_id) INTO occ, usr
        FROM new_rows s JOIN nudge_deliveries d ON d.message_id = s.message_id WHERE d.campaign_id IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(d.occurrence_id), array_agg(d.end_user_id) INTO occ, usr
        FROM old_rows s JOIN nudge_deliveries d ON d.message_id = s.message_id WHERE d.campaign_id IS NOT NULL;
    ELSE
        SELECT array_agg(d.occurrence_id), array_agg(d.end_user_id) INTO occ, usr
        FROM new_rows s JOIN old_rows o ON o.message_id = s.message_id
        JOIN nudge_deliveries d ON d.message_id = s.message_id
        WHERE d.campaign_id IS NOT NULL
          AND (s.status, s.error_code, s.replied, s.channel, s.sent_at) IS DISTINCT FROM (o.status, o.error_code, o.replied, o.channel, o.sent_at);
    END IF;
    PERFORM analytics_campaign_refresh(occ, usr);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_campaign_sends_ins AFTER INSERT ON analytics_sends REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_campaign_sends();
CREATE TRIGGER analytics_campaign_sends_upd AFTER UPDATE ON analytics_sends REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_campaign_sends();
CREATE TRIGGER analytics_campaign_sends_del AFTER DELETE ON analytics_sends REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_campaign_sends();

-- An opt-out or opt-in: the person's sent campaign decisions (opted out after).
-- +goose StatementBegin
CREATE FUNCTION analytics_campaign_opt() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    occ uuid[];
    usr uuid[];
BEGIN
    SELECT array_agg(d.occurrence_id), array_agg(d.end_user_id) INTO occ, usr
    FROM nudge_deliveries d
    WHERE d.creator_id = NEW.creator_id AND d.end_user_id = NEW.id AND d.status = 'sent' AND d.campaign_id IS NOT NULL;
    PERFORM analytics_campaign_refresh(occ, usr);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_campaign_opt AFTER UPDATE OF opted_out_at ON end_users FOR EACH ROW
    WHEN (OLD.opted_out_at IS DISTINCT FROM NEW.opted_out_at)
    EXECUTE FUNCTION analytics_campaign_opt();

-- analytics_campaign_rebuild recounts every campaign decision of a creator (the backfill
-- below, the bench's bulk load).
-- +goose StatementBegin
CREATE FUNCTION analytics_campaign_rebuild(p_creator uuid) RETURNS void
LANGUAGE plpgsql SET enable_nestloop = off AS $$
BEGIN
    DELETE FROM analytics_campaign_counts WHERE creator_id = p_creator;
    DELETE FROM analytics_campaign_state WHERE creator_id = p_creator;
    INSERT INTO analytics_campaign_state (occurrence_id, end_user_id, creator_id, channel, skip_reason, fail_code,
                                          sent, held, skipped, delivered, read, failed, replied, opted_out)
    SELECT n.occurrence_id, n.end_user_id, n.creator_id, coalesce(s.channel, ''),
           CASE WHEN n.status = 'skipped' THEN n.reason ELSE '' END,
           CASE WHEN s.status IN ('failed', 'window_closed') THEN s.error_code ELSE '' END,
           (n.status = 'sent')::int, (n.status = 'held')::int, (n.status = 'skipped')::int,
           coalesce(s.status IN ('delivered', 'read'), false)::int, coalesce(s.status = 'read', false)::int,
           coalesce(s.status IN ('failed', 'window_closed'), false)::int, coalesce(s.replied, false)::int,
           coalesce(e.opted_out_at > s.sent_at, false)::int
    FROM nudge_deliveries n
    JOIN campaign_occurrences oc ON oc.id = n.occurrence_id
    LEFT JOIN analytics_sends s ON s.message_id = n.message_id AND n.status = 'sent'
    LEFT JOIN end_users e ON e.id = n.end_user_id
    WHERE n.creator_id = p_creator AND n.campaign_id IS NOT NULL;
    INSERT INTO analytics_campaign_counts (occurrence_id, channel, skip_reason, fail_code, creator_id,
                                           sent, held, skipped, delivered, read, failed, replied, opted_out)
    SELECT occurrence_id, channel, skip_reason, fail_code, p_creator, sum(sent), sum(held), sum(skipped), sum(delivered), sum(read),
           sum(failed), sum(replied), sum(opted_out)
    FROM analytics_campaign_state WHERE creator_id = p_creator
    GROUP BY 1, 2, 3, 4;
END
$$;
-- +goose StatementEnd


-- Knowledge gaps and citations per local month of the creator's own zone (issue 12): a
-- 12-month range read every gap question and every citation of the year; now it reads the
-- month rows of its whole months and the raw rows of its first and last partial months only.
-- Kept by statement triggers on analytics_gaps and analytics_citations, rebuilt when the zone
-- changes. Erasure: a question deleted with its end user is taken out of its month's row by
-- the same triggers (the group key is a hash of the normalised question; a group left with no
-- question is deleted).
--
-- analytics_gap_months: per month, channel and question group: the questions (a question that
-- is a gap for two reasons once), by reason, and the newest one's time. A group's row is
-- recounted from analytics_gaps (analytics_gaps_key: that group's questions of that month)
-- under a lock of the group, so concurrent writers (the applier, a takeover) end exact.
CREATE TABLE analytics_gap_months (
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    month      date NOT NULL,
    channel    text NOT NULL,
    key        text NOT NULL,
    n          integer NOT NULL,
    no_passage integer NOT NULL,
    takeover   integer NOT NULL,
    last_at    timestamptz NOT NULL,
    PRIMARY KEY (creator_id, month, channel, key)
);
-- analytics_citation_months: citations per month, channel, document and section (counts,
-- added and subtracted with the rows).
CREATE TABLE analytics_citation_months (
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    month       date NOT NULL,
    channel     text NOT NULL,
    document_id uuid NOT NULL,
    section     text NOT NULL,
    n           integer NOT NULL,
    PRIMARY KEY (creator_id, month, channel, document_id, section)
);
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['analytics_gap_months', 'analytics_citation_months'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
            WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd
GRANT SELECT, INSERT, UPDATE, DELETE ON analytics_gap_months, analytics_citation_months TO coachwire_app;

-- Recounts the gap groups (p_key[i], local month p_month[i], channel p_channel[i]) of a creator.
-- +goose StatementBegin
CREATE FUNCTION analytics_gap_recount(p_creator uuid, p_month date[], p_channel text[], p_key text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(p_key), 0) = 0 THEN
        RETURN;
    END IF;
    -- The zone: a zone change (a key update of the creator) waits for this transaction, or
    -- this waits for it and reads the new zone below.
    PERFORM 1 FROM creators WHERE id = p_creator FOR KEY SHARE;
    PERFORM pg_advisory_xact_lock(hashtextextended('analytics_gap:' || p_creator::text || k, 0))
    FROM (SELECT DISTINCT k FROM unnest(p_key) k ORDER BY 1) x;
    -- New statements: they read what committed before the locks were taken.
    WITH g AS (
        SELECT DISTINCT m, c, k FROM unnest(p_month, p_channel, p_key) g(m, c, k)
    ), cur AS (
        SELECT g.m, g.c, g.k, x.n, x.no_passage, x.takeover, x.last_at
        FROM g JOIN creators z ON z.id = p_creator
        CROSS JOIN LATERAL (
            SELECT count(DISTINCT a.message_id)::int AS n, count(*) FILTER (WHERE a.reason = 'no_passage')::int AS no_passage,
                   count(*) FILTER (WHERE a.reason = 'takeover')::int AS takeover, max(a.asked_at) AS last_at
            FROM analytics_gaps a
            WHERE a.creator_id = p_creator AND a.key = g.k AND a.channel = g.c
              AND a.asked_at >= (g.m::timestamp AT TIME ZONE z.timezone)
              AND a.asked_at < ((g.m + interval '1 month')::timestamp AT TIME ZONE z.timezone)) x
    ), gone AS (
        DELETE FROM analytics_gap_months gm USING cur
        WHERE gm.creator_id = p_creator AND gm.month = cur.m AND gm.channel = cur.c AND gm.key = cur.k AND cur.n = 0
    )
    INSERT INTO analytics_gap_months AS gm (creator_id, month, channel, key, n, no_passage, takeover, last_at)
    SELECT p_creator, m, c, k, n, no_passage, takeover, last_at FROM cur WHERE n > 0
    ORDER BY 2, 3, 4
    ON CONFLICT (creator_id, month, channel, key) DO UPDATE
        SET n = EXCLUDED.n, no_passage = EXCLUDED.no_passage, takeover = EXCLUDED.takeover, last_at = EXCLUDED.last_at;
END
$$;
-- +goose StatementEnd

-- Two functions, as a trigger sees only the transition tables it declares.
-- +goose StatementBegin
CREATE FUNCTION analytics_gap_rows_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT x.creator_id, array_agg(x.month) AS months, array_agg(x.channel) AS channels, array_agg(x.key) AS keys
        FROM (SELECT DISTINCT t.creator_id, date_trunc('month', t.asked_at AT TIME ZONE z.timezone)::date AS month, t.channel, t.key
              FROM new_rows t JOIN creators z ON z.id = t.creator_id) x
        GROUP BY 1
    LOOP
        PERFORM analytics_gap_recount(r.creator_id, r.months, r.channels, r.keys);
    END LOOP;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION analytics_gap_rows_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT x.creator_id, array_agg(x.month) AS months, array_agg(x.channel) AS channels, array_agg(x.key) AS keys
        FROM (SELECT DISTINCT t.creator_id, date_trunc('month', t.asked_at AT TIME ZONE z.timezone)::date AS month, t.channel, t.key
              FROM old_rows t JOIN creators z ON z.id = t.creator_id) x
        GROUP BY 1
    LOOP
        PERFORM analytics_gap_recount(r.creator_id, r.months, r.channels, r.keys);
    END LOOP;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_gap_months_ins AFTER INSERT ON analytics_gaps REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_gap_rows_inserted();
CREATE TRIGGER analytics_gap_months_del AFTER DELETE ON analytics_gaps REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_gap_rows_deleted();

-- Citations added and taken away (the sign) per month.
-- +goose StatementBegin
CREATE FUNCTION analytics_citation_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The zone (see analytics_gap_recount).
    PERFORM 1 FROM creators WHERE id IN (SELECT DISTINCT creator_id FROM changed_rows) ORDER BY id FOR KEY SHARE;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_citation_months AS cm (creator_id, month, channel, document_id, section, n)
        SELECT t.creator_id, date_trunc('month', t.at AT TIME ZONE z.timezone)::date, t.channel, t.document_id, t.section, count(*)
        FROM changed_rows t JOIN creators z ON z.id = t.creator_id
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (creator_id, month, channel, document_id, section) DO UPDATE SET n = cm.n + EXCLUDED.n;
    ELSE
        -- (a creator being deleted has no rows left to take from)
        UPDATE analytics_citation_months cm SET n = cm.n - d.n
        FROM (SELECT t.creator_id, date_trunc('month', t.at AT TIME ZONE z.timezone)::date AS month, t.channel, t.document_id, t.section,
                     count(*) AS n
              FROM changed_rows t JOIN creators z ON z.id = t.creator_id
              GROUP BY 1, 2, 3, 4, 5) d
        WHERE cm.creator_id = d.creator_id AND cm.month = d.month AND cm.channel = d.channel AND cm.document_id = d.document_id
          AND cm.section = d.section;
        DELETE FROM analytics_citation_months cm
        USING (SELECT DISTINCT creator_id, document_id FROM changed_rows) d
        WHERE cm.creator_id = d.creator_id AND cm.document_id = d.document_id AND cm.n = 0;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_citation_months_ins AFTER INSERT ON analytics_citations REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_citation_rows();
CREATE TRIGGER analytics_citation_months_del AFTER DELETE ON analytics_citations REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_citation_rows();

-- analytics_month_rebuild recounts a creator's month rollups (a zone change, the backfill
-- below, the bench's bulk load).
-- +goose StatementBegin
CREATE FUNCTION analytics_month_rebuild(p_creator uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_gap_months WHERE creator_id = p_creator;
    INSERT INTO analytics_gap_months (creator_id, month, channel, key, n, no_passage, takeover, last_at)
    SELECT p_creator, date_trunc('month', a.asked_at AT TIME ZONE z.timezone)::date, a.channel, a.key,
           count(DISTINCT a.message_id), count(*) FILTER (WHERE a.reason = 'no_passage'), count(*) FILTER (WHERE a.reason = 'takeover'),
           max(a.asked_at)
    FROM analytics_gaps a JOIN creators z ON z.id = a.creator_id
    WHERE a.creator_id = p_creator
    GROUP BY 2, 3, 4;
    DELETE FROM analytics_citation_months WHERE creator_id = p_creator;
    INSERT INTO analytics_citation_months (creator_id, month, channel, document_id, section, n)
    SELECT p_creator, date_trunc('month', c.at AT TIME ZONE z.timezone)::date, c.channel, c.document_id, c.section, count(*)
    FROM analytics_citations c JOIN creators z ON z.id = c.creator_id
    WHERE c.creator_id = p_creator
    GROUP BY 2, 3, 4, 5;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION analytics_month_zone_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_month_rebuild(NEW.id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_month_zone_changed AFTER UPDATE OF timezone ON creators FOR EACH ROW
    WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION analytics_month_zone_changed();

ALTER TABLE creators NO FORCE ROW LEVEL SECURITY;
ALTER TABLE nudge_deliveries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE campaign_occurrences NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_sends NO FORCE ROW LEVEL SECURITY;
ALTER TABLE end_users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_campaign_counts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_campaign_state NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_gaps NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_citations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_gap_months NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_citation_months NO FORCE ROW LEVEL SECURITY;
SELECT analytics_campaign_rebuild(id), analytics_month_rebuild(id) FROM creators;
ALTER TABLE analytics_gaps FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_citations FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_gap_months FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_citation_months FORCE ROW LEVEL SECURITY;
ALTER TABLE creators FORCE ROW LEVEL SECURITY;
ALTER TABLE nudge_deliveries FORCE ROW LEVEL SECURITY;
ALTER TABLE campaign_occurrences FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_sends FORCE ROW LEVEL SECURITY;
ALTER TABLE end_users FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_campaign_counts FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_campaign_state FORCE ROW LEVEL SECURITY;

-- +goose Down
DROP TRIGGER analytics_month_zone_changed ON creators;
DROP TRIGGER analytics_gap_months_ins ON analytics_gaps;
DROP TRIGGER analytics_gap_months_del ON analytics_gaps;
DROP TRIGGER analytics_citation_months_ins ON analytics_citations;
DROP TRIGGER analytics_citation_months_del ON analytics_citations;
DROP FUNCTION analytics_month_zone_changed();
DROP FUNCTION analytics_month_rebuild(uuid);
DROP FUNCTION analytics_citation_rows();
DROP FUNCTION analytics_gap_rows_inserted();
DROP FUNCTION analytics_gap_rows_deleted();
DROP FUNCTION analytics_gap_recount(uuid, date[], text[], text[]);
DROP TABLE analytics_gap_months, analytics_citation_months;
DROP TRIGGER analytics_campaign_opt ON end_users;
DROP TRIGGER analytics_campaign_sends_ins ON analytics_sends;
DROP TRIGGER analytics_campaign_sends_upd ON analytics_sends;
DROP TRIGGER analytics_campaign_sends_del ON analytics_sends;
DROP TRIGGER analytics_campaign_decisions_ins ON nudge_deliveries;
DROP TRIGGER analytics_campaign_decisions_upd ON nudge_deliveries;
DROP TRIGGER analytics_campaign_decisions_del ON nudge_deliveries;
DROP FUNCTION analytics_campaign_opt();
DROP FUNCTION analytics_campaign_sends();
DROP FUNCTION analytics_campaign_decisions();
DROP FUNCTION analytics_campaign_rebuild(uuid);
DROP FUNCTION analytics_campaign_refresh(uuid[], uuid[]);
DROP INDEX nudge_deliveries_message;
DROP TABLE analytics_campaign_counts, analytics_campaign_state;
ALTER TABLE campaign_occurrences DROP CONSTRAINT campaign_occurrences_creator_id_id;
