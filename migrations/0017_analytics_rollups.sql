-- +goose Up
-- Analytics rollups (issue 12). Every table is kept by the existing writes (triggers on
-- messages, conversations and end_users, set-based for inserts), never by scanning messages per
-- request. Time is kept exact for any time zone: counters are per UTC quarter-hour bucket
-- (every IANA offset in use is a multiple of 15 minutes, DST switches included, so a local day
-- is a whole number of buckets), and the figures that need a distribution (latencies, gaps,
-- citations, takeovers) are per-event rows.
--
-- Erasure: the rows that name an end user, a conversation or a message cascade with them (a
-- deleted end user leaves nothing of theirs here); analytics_channel_events holds aggregate
-- events without any end-user reference and stays.

-- Messages in and out per conversation and UTC quarter-hour.
CREATE TABLE analytics_activity (
    creator_id      uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL,
    end_user_id     uuid NOT NULL,
    channel         text NOT NULL,
    bucket          timestamptz NOT NULL,
    messages_in     integer NOT NULL DEFAULT 0,
    messages_out    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, bucket),
    FOREIGN KEY (creator_id, conversation_id) REFERENCES conversations (creator_id, id) ON DELETE CASCADE
) WITH (fillfactor = 90);
-- The counters are in no index and pages keep room, so a reply counted in its question's bucket
-- is a HOT update (no index entries) on the turn path.
CREATE INDEX analytics_activity_range ON analytics_activity (creator_id, bucket) INCLUDE (end_user_id, channel);

-- The same per conversation and local day of the creator's own time zone (creators.timezone,
-- the send policy's, which the console and the API use by default): the 12-month figures read
-- these instead of 96 quarter-hours a day. Rebuilt from analytics_activity when the zone changes.
CREATE TABLE analytics_days (
    creator_id      uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    day             date NOT NULL,
    conversation_id uuid NOT NULL,
    end_user_id     uuid NOT NULL,
    channel         text NOT NULL,
    messages_in     integer NOT NULL DEFAULT 0,
    messages_out    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (creator_id, day, conversation_id),
    FOREIGN KEY (creator_id, conversation_id) REFERENCES conversations (creator_id, id) ON DELETE CASCADE
) WITH (fillfactor = 90);
-- Each conversation's days in order (the active-user windows; the cascade from conversations).
-- A reply changes only messages_out, which no index holds: a HOT update when the page has room.
CREATE INDEX analytics_days_conversation ON analytics_days (creator_id, conversation_id, day) INCLUDE (messages_in, channel);

-- Each end user's first message (new users, cohorts).
CREATE TABLE analytics_first_contact (
    end_user_id uuid PRIMARY KEY,
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel     text NOT NULL,
    first_at    timestamptz NOT NULL,
    FOREIGN KEY (creator_id, end_user_id) REFERENCES end_users (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX analytics_first_contact_range ON analytics_first_contact (creator_id, first_at);

-- One row per bot reply to a person's message: message → final reply, and (recorded by
-- generate in the reply's transaction) message → first token and the mode.
CREATE TABLE analytics_turns (
    reply_id        uuid PRIMARY KEY,
    creator_id      uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL,
    channel         text NOT NULL,
    asked_at        timestamptz NOT NULL,
    final_ms        bigint NOT NULL,
    first_token_ms  bigint,
    mode            text NOT NULL DEFAULT '',
    status          text NOT NULL,
    FOREIGN KEY (creator_id, reply_id) REFERENCES messages (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX analytics_turns_range ON analytics_turns (creator_id, asked_at);

-- Questions the coach could not answer well.
CREATE TABLE analytics_gaps (
    message_id      uuid NOT NULL,
    reason          text NOT NULL CHECK (reason IN ('no_passage', 'takeover')),
    creator_id      uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL,
    channel         text NOT NULL,
    asked_at        timestamptz NOT NULL,
    key             text NOT NULL,
    question        text NOT NULL,
    PRIMARY KEY (message_id, reason),
    FOREIGN KEY (creator_id, message_id) REFERENCES messages (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX analytics_gaps_range ON analytics_gaps (creator_id, asked_at);

-- Documents (and sections) each reply cited.
CREATE TABLE analytics_citations (
    reply_id    uuid NOT NULL,
    document_id uuid NOT NULL,
    section     text NOT NULL,
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel     text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (reply_id, document_id, section),
    FOREIGN KEY (creator_id, reply_id) REFERENCES messages (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX analytics_citations_range ON analytics_citations (creator_id, at);

-- Opt-outs, opt-ins and delivery failures: aggregate events, no end-user reference.
CREATE TABLE analytics_channel_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel    text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('opt_out', 'opt_in', 'failed', 'window_closed')),
    code       text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL
);
CREATE INDEX analytics_channel_events_range ON analytics_channel_events (creator_id, at);

-- Takeovers and creator replies; user_id is the member (app.user_id of the transaction) when known.
CREATE TABLE analytics_team_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    creator_id      uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL,
    channel         text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('takeover', 'reply')),
    user_id         uuid,
    wait_ms         bigint,
    at              timestamptz NOT NULL,
    FOREIGN KEY (creator_id, conversation_id) REFERENCES conversations (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX analytics_team_events_range ON analytics_team_events (creator_id, at);

-- Proactive sends (the coach's messages that answer nothing: campaign and program messages):
-- their delivery status (mirrored from the message) and whether the person wrote in the same
-- conversation within 24 hours, so the campaign and program sections read one row per send.
CREATE TABLE analytics_sends (
    message_id      uuid PRIMARY KEY,
    creator_id      uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL,
    channel         text NOT NULL,
    sent_at         timestamptz NOT NULL,
    status          text NOT NULL,
    error_code      text NOT NULL DEFAULT '',
    replied         boolean NOT NULL DEFAULT false,
    FOREIGN KEY (creator_id, message_id) REFERENCES messages (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX analytics_sends_conversation ON analytics_sends (conversation_id, sent_at);
CREATE INDEX analytics_sends_range ON analytics_sends (creator_id, sent_at);

-- Turns dead-lettered (their inbound or generate event moved to CW_DLQ: recorded by the
-- generate role's consumer of the dead-letter stream, once per event): aggregate events, no
-- end-user reference.
CREATE TABLE analytics_dead_letters (
    event_id   uuid PRIMARY KEY,
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel    text NOT NULL,
    stage      text NOT NULL CHECK (stage IN ('inbound', 'generate')),
    at         timestamptz NOT NULL
);
CREATE INDEX analytics_dead_letters_range ON analytics_dead_letters (creator_id, at);

-- The normalised form of a question: near-identical questions (case, punctuation, spacing)
-- share it.
-- +goose StatementBegin
CREATE FUNCTION analytics_question_key(q text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT md5(btrim(regexp_replace(lower(q), '[^[:alnum:]]+', ' ', 'g')))
$$;
-- +goose StatementEnd

-- Set-based: one statement's new messages update the rollups in one pass each.
-- +goose StatementBegin
CREATE FUNCTION analytics_messages_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    has_any boolean;
    has_bot boolean;
BEGIN
    -- One look at the new rows, so a single message (the turn path) runs only its own rollups:
    -- two statements for a bot reply, one for any other message, each writing several rollups
    -- from one read of the new rows (data-modifying WITH clauses all run).
    SELECT coalesce(bool_or(role IN ('user', 'assistant', 'creator')), false), coalesce(bool_or(role = 'assistant'), false)
    INTO has_any, has_bot FROM new_messages;
    IF NOT has_any THEN
        RETURN NULL;
    END IF;
    -- The quarter-hour and the local-day counters, first contacts, replies to proactive sends and
    -- members' replies. The creator's zone needs no lock of its own: the foreign key check of
    -- these messages holds a key share lock on the creator's row until commit, and
    -- creators_zone (a unique index with the zone) makes a zone change take the conflicting
    -- lock, so the change (which rebuilds analytics_days) waits for this transaction, or this
    -- statement's key check waited for the change and this trigger, running after the check,
    -- reads the new zone.
    WITH x AS (
        SELECT n.creator_id, n.conversation_id, c.end_user_id, c.channel, n.created_at, n.role, n.role = 'user' AS inbound
        FROM new_messages n JOIN conversations c ON c.id = n.conversation_id
        WHERE n.role IN ('user', 'assistant', 'creator')
    ), qh AS (
        INSERT INTO analytics_activity AS a (creator_id, conversation_id, end_user_id, channel, bucket, messages_in, messages_out)
        SELECT creator_id, conversation_id, end_user_id, channel, date_bin('15 minutes', created_at, 'epoch'),
               count(*) FILTER (WHERE inbound), count(*) FILTER (WHERE NOT inbound)
        FROM x
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 2, 5
        ON CONFLICT (conversation_id, bucket) DO UPDATE
            SET messages_in = a.messages_in + EXCLUDED.messages_in, messages_out = a.messages_out + EXCLUDED.messages_out
    ), fc AS (
        INSERT INTO analytics_first_contact AS f (end_user_id, creator_id, channel, first_at)
        SELECT end_user_id, creator_id, min(channel), min(created_at)
        FROM x WHERE inbound
        GROUP BY 1, 2
        ORDER BY 1
        ON CONFLICT (end_user_id) DO UPDATE SET first_at = EXCLUDED.first_at WHERE EXCLUDED.first_at < f.first_at
    ), replied AS (
        -- A person's message is the reply to the sends of the 24 hours before it.
        UPDATE analytics_sends s SET replied = true
        FROM x
        WHERE x.inbound AND s.conversation_id = x.conversation_id AND NOT s.replied
          AND s.sent_at <= x.created_at AND s.sent_at > x.created_at - interval '24 hours'
    ), team AS (
        INSERT INTO analytics_team_events (creator_id, conversation_id, channel, kind, user_id, at)
        SELECT creator_id, conversation_id, channel, 'reply', NULLIF(current_setting('app.user_id', true), '')::uuid, created_at
        FROM x WHERE role = 'creator'
    )
    INSERT INTO analytics_days AS d (creator_id, day, conversation_id, end_user_id, channel, messages_in, messages_out)
    SELECT x.creator_id, (x.created_at AT TIME ZONE z.timezone)::date, x.conversation_id, x.end_user_id, x.channel,
           count(*) FILTER (WHERE x.inbound), count(*) FILTER (WHERE NOT x.inbound)
    FROM x JOIN creators z ON z.id = x.creator_id
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3
    ON CONFLICT (creator_id, day, conversation_id) DO UPDATE
        SET messages_in = d.messages_in + EXCLUDED.messages_in, messages_out = d.messages_out + EXCLUDED.messages_out;

    IF NOT has_bot THEN
        RETURN NULL;
    END IF;

    -- The bot's messages: replies (turns, gaps, citations; the question read once) and proactive
    -- sends (those answering nothing).
    WITH r AS (
        SELECT n.id, n.creator_id, n.conversation_id, n.channel, n.created_at, n.status, n.sources,
               u.id AS ask_id, u.created_at AS asked_at, u.body AS question
        FROM new_messages n JOIN messages u ON u.id = n.reply_to AND u.role = 'user'
        WHERE n.role = 'assistant'
    ), turns AS (
        INSERT INTO analytics_turns (reply_id, creator_id, conversation_id, channel, asked_at, final_ms, status)
        SELECT id, creator_id, conversation_id, channel, asked_at,
               greatest(0, floor(extract(epoch FROM created_at - asked_at) * 1000))::bigint, status
        FROM r
        ON CONFLICT DO NOTHING
    ), gaps AS (
        -- Only the coach's answers: keyword auto-replies (stored 'queued' by retrieve) are none.
        INSERT INTO analytics_gaps (message_id, reason, creator_id, conversation_id, channel, asked_at, key, question)
        SELECT ask_id, 'no_passage', creator_id, conversation_id, channel, asked_at, analytics_question_key(question), question
        FROM r
        WHERE status IN ('generated', 'search_unavailable', 'llm_error') AND (sources = '[]'::jsonb OR status = 'search_unavailable')
        ON CONFLICT DO NOTHING
    ), citations AS (
        INSERT INTO analytics_citations (reply_id, document_id, section, creator_id, channel, at)
        SELECT DISTINCT n.id, (s->>'document_id')::uuid, coalesce(s->>'heading', ''), n.creator_id, n.channel, n.created_at
        FROM new_messages n, jsonb_array_elements(CASE WHEN jsonb_typeof(n.sources) = 'array' THEN n.sources ELSE '[]'::jsonb END) s
        WHERE n.role = 'assistant' AND s ? 'document_id'
        ON CONFLICT DO NOTHING
    )
    INSERT INTO analytics_sends (message_id, creator_id, conversation_id, channel, sent_at, status, error_code, replied)
    SELECT n.id, n.creator_id, n.conversation_id, n.channel, n.created_at, n.status, n.error_code,
           EXISTS (SELECT 1 FROM messages u WHERE u.creator_id = n.creator_id AND u.conversation_id = n.conversation_id AND u.role = 'user'
                     AND u.created_at >= n.created_at AND u.created_at < n.created_at + interval '24 hours')
    FROM new_messages n
    WHERE n.role = 'assistant' AND n.reply_to IS NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_messages_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT EXECUTE FUNCTION analytics_messages_inserted();

-- A delivery failure (rare): a row trigger that fires only when the status becomes one.
-- +goose StatementBegin
CREATE FUNCTION analytics_message_failed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_channel_events (creator_id, channel, kind, code, at)
    VALUES (NEW.creator_id, NEW.channel, CASE NEW.status WHEN 'window_closed' THEN 'window_closed' ELSE 'failed' END,
            NEW.error_code, NEW.updated_at);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_message_failed AFTER UPDATE OF status ON messages FOR EACH ROW
    WHEN (NEW.status IN ('failed', 'window_closed') AND OLD.status IS DISTINCT FROM NEW.status AND NEW.role <> 'user')
    EXECUTE FUNCTION analytics_message_failed();

-- A proactive send's delivery status and provider code (dispatch's updates), mirrored.
-- +goose StatementBegin
CREATE FUNCTION analytics_send_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE analytics_sends SET status = NEW.status, error_code = NEW.error_code WHERE message_id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_send_status AFTER UPDATE OF status ON messages FOR EACH ROW
    WHEN (NEW.role = 'assistant' AND NEW.reply_to IS NULL AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION analytics_send_status();

-- +goose StatementBegin
CREATE FUNCTION analytics_opt_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_channel_events (creator_id, channel, kind, at)
    VALUES (NEW.creator_id, NEW.channel, CASE WHEN NEW.opted_out_at IS NULL THEN 'opt_in' ELSE 'opt_out' END,
            coalesce(NEW.opted_out_at, now()));
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_opt_changed AFTER UPDATE OF opted_out_at ON end_users FOR EACH ROW
    WHEN ((OLD.opted_out_at IS NULL) <> (NEW.opted_out_at IS NULL))
    EXECUTE FUNCTION analytics_opt_changed();

-- A zone change is a key update (it conflicts with the key share locks of the foreign key
-- checks of messages being written): see analytics_messages_inserted.
CREATE UNIQUE INDEX creators_zone ON creators (id, timezone);

-- The creator's zone must be one PostgreSQL knows (the day rollup computes local days with it);
-- a change rebuilds the creator's analytics_days from the quarter-hour rollup.
-- +goose StatementBegin
CREATE FUNCTION analytics_zone_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM now() AT TIME ZONE NEW.timezone;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_zone_check BEFORE INSERT OR UPDATE OF timezone ON creators FOR EACH ROW
    EXECUTE FUNCTION analytics_zone_check();

-- +goose StatementBegin
CREATE FUNCTION analytics_zone_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_days WHERE creator_id = NEW.id;
    INSERT INTO analytics_days (creator_id, day, conversation_id, end_user_id, channel, messages_in, messages_out)
    SELECT creator_id, (bucket AT TIME ZONE NEW.timezone)::date, conversation_id, end_user_id, channel, sum(messages_in), sum(messages_out)
    FROM analytics_activity WHERE creator_id = NEW.id
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_zone_changed AFTER UPDATE OF timezone ON creators FOR EACH ROW
    WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION analytics_zone_changed();

-- A takeover: the wait since the person's last message, and a gap when it came right after a bot
-- answer (the newest message is the bot's, less than 15 minutes old).
-- +goose StatementBegin
CREATE FUNCTION analytics_takeover() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last_user messages%ROWTYPE;
    last_msg  messages%ROWTYPE;
BEGIN
    SELECT * INTO last_user FROM messages WHERE conversation_id = NEW.id AND role = 'user' ORDER BY seq DESC LIMIT 1;
    SELECT * INTO last_msg FROM messages WHERE conversation_id = NEW.id ORDER BY seq DESC LIMIT 1;
    INSERT INTO analytics_team_events (creator_id, conversation_id, channel, kind, user_id, wait_ms, at)
    VALUES (NEW.creator_id, NEW.id, NEW.channel, 'takeover', NULLIF(current_setting('app.user_id', true), '')::uuid,
            CASE WHEN last_user.id IS NOT NULL THEN greatest(0, floor(extract(epoch FROM now() - last_user.created_at) * 1000))::bigint END,
            now());
    IF last_user.id IS NOT NULL AND last_msg.role = 'assistant' AND last_msg.reply_to = last_user.id
       AND last_msg.created_at > now() - interval '15 minutes' THEN
        INSERT INTO analytics_gaps (message_id, reason, creator_id, conversation_id, channel, asked_at, key, question)
        VALUES (last_user.id, 'takeover', NEW.creator_id, NEW.id, NEW.channel, last_user.created_at,
                analytics_question_key(last_user.body), last_user.body)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER analytics_takeover AFTER UPDATE OF status ON conversations FOR EACH ROW
    WHEN (NEW.status = 'human' AND OLD.status IS DISTINCT FROM 'human')
    EXECUTE FUNCTION analytics_takeover();

-- Backfill from the rows already there (row security lifted for this transaction, as in 0008).
ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
ALTER TABLE conversations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE programs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE creators NO FORCE ROW LEVEL SECURITY;
INSERT INTO analytics_activity (creator_id, conversation_id, end_user_id, channel, bucket, messages_in, messages_out)
SELECT m.creator_id, m.conversation_id, c.end_user_id, c.channel, date_bin('15 minutes', m.created_at, 'epoch'),
       count(*) FILTER (WHERE m.role = 'user'), count(*) FILTER (WHERE m.role IN ('assistant', 'creator'))
FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE m.role IN ('user', 'assistant', 'creator')
GROUP BY 1, 2, 3, 4, 5;
-- A zone PostgreSQL does not know (none is expected: the API checks zones with Go's database)
-- becomes UTC.
UPDATE creators SET timezone = 'UTC' WHERE timezone NOT IN (SELECT name FROM pg_timezone_names);
INSERT INTO analytics_days (creator_id, day, conversation_id, end_user_id, channel, messages_in, messages_out)
SELECT a.creator_id, (a.bucket AT TIME ZONE cr.timezone)::date, a.conversation_id, a.end_user_id, a.channel, sum(a.messages_in), sum(a.messages_out)
FROM analytics_activity a JOIN creators cr ON cr.id = a.creator_id
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO analytics_first_contact (end_user_id, creator_id, channel, first_at)
SELECT c.end_user_id, m.creator_id, min(c.channel), min(m.created_at)
FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.role = 'user' GROUP BY 1, 2;
INSERT INTO analytics_turns (reply_id, creator_id, conversation_id, channel, asked_at, final_ms, status)
SELECT n.id, n.creator_id, n.conversation_id, n.channel, u.created_at,
       greatest(0, floor(extract(epoch FROM n.created_at - u.created_at) * 1000))::bigint, n.status
FROM messages n JOIN messages u ON u.id = n.reply_to AND u.role = 'user' WHERE n.role = 'assistant';
INSERT INTO analytics_gaps (message_id, reason, creator_id, conversation_id, channel, asked_at, key, question)
SELECT u.id, 'no_passage', n.creator_id, n.conversation_id, n.channel, u.created_at, analytics_question_key(u.body), u.body
FROM messages n JOIN messages u ON u.id = n.reply_to AND u.role = 'user'
WHERE n.role = 'assistant' AND (n.sources = '[]'::jsonb OR n.status = 'search_unavailable')
  -- Sent auto-replies no longer say 'queued': their questions (opt words, in-chat commands,
  -- program keywords) are left out by their text.
  AND n.status <> 'queued'
  AND upper(btrim(btrim(u.body), '.!')) NOT IN ('STOP', 'UNSUBSCRIBE', 'STOPALL', 'CANCEL', 'END', 'QUIT', 'START', 'UNSTOP',
                                               'SUBSCRIBE', '/STOP', '/START')
  AND btrim(u.body) NOT LIKE '/%'
  AND NOT EXISTS (SELECT 1 FROM programs p WHERE p.creator_id = n.creator_id AND p.keyword <> '' AND lower(p.keyword) = lower(btrim(u.body)))
ON CONFLICT DO NOTHING;
INSERT INTO analytics_citations (reply_id, document_id, section, creator_id, channel, at)
SELECT DISTINCT n.id, (s->>'document_id')::uuid, coalesce(s->>'heading', ''), n.creator_id, n.channel, n.created_at
FROM messages n, jsonb_array_elements(CASE WHEN jsonb_typeof(n.sources) = 'array' THEN n.sources ELSE '[]'::jsonb END) s
WHERE n.role = 'assistant' AND s ? 'document_id';
INSERT INTO analytics_sends (message_id, creator_id, conversation_id, channel, sent_at, status, error_code, replied)
SELECT n.id, n.creator_id, n.conversation_id, n.channel, n.created_at, n.status, n.error_code,
       EXISTS (SELECT 1 FROM messages u WHERE u.creator_id = n.creator_id AND u.conversation_id = n.conversation_id AND u.role = 'user'
                 AND u.created_at >= n.created_at AND u.created_at < n.created_at + interval '24 hours')
FROM messages n WHERE n.role = 'assistant' AND n.reply_to IS NULL;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
ALTER TABLE programs FORCE ROW LEVEL SECURITY;
ALTER TABLE creators FORCE ROW LEVEL SECURITY;

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['analytics_activity', 'analytics_days', 'analytics_sends', 'analytics_first_contact', 'analytics_turns', 'analytics_gaps',
                             'analytics_citations', 'analytics_channel_events', 'analytics_team_events', 'analytics_dead_letters'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
            WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd

GRANT SELECT, INSERT, UPDATE, DELETE ON analytics_activity, analytics_days, analytics_sends, analytics_first_contact, analytics_turns, analytics_gaps,
    analytics_citations, analytics_channel_events, analytics_team_events, analytics_dead_letters TO coachwire_app;

-- +goose Down
DROP TRIGGER analytics_zone_changed ON creators;
DROP TRIGGER analytics_zone_check ON creators;
DROP FUNCTION analytics_zone_changed();
DROP FUNCTION analytics_zone_check();
DROP INDEX creators_zone;
DROP TRIGGER analytics_takeover ON conversations;
DROP TRIGGER analytics_opt_changed ON end_users;
DROP TRIGGER analytics_send_status ON messages;
DROP TRIGGER analytics_message_failed ON messages;
DROP TRIGGER analytics_messages_inserted ON messages;
DROP FUNCTION analytics_takeover();
DROP FUNCTION analytics_opt_changed();
DROP FUNCTION analytics_send_status();
DROP FUNCTION analytics_message_failed();
DROP FUNCTION analytics_messages_inserted();
DROP FUNCTION analytics_question_key(text);
DROP TABLE analytics_sends, analytics_dead_letters, analytics_team_events, analytics_channel_events, analytics_citations, analytics_gaps, analytics_turns,
    analytics_first_contact, analytics_days, analytics_activity;
