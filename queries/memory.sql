-- name: GetMemory :one
-- The profile of the person of end user $1 (end users linked into one person share it: its
-- row is keyed by the person's id, migration 0025).
SELECT * FROM end_user_memory WHERE end_user_id = (SELECT e.person_id FROM end_users e WHERE e.id = $1);

-- name: PutMemory :one
-- The creator's edit replaces the profile (the person's).
INSERT INTO end_user_memory (end_user_id, creator_id, profile, edited_by_creator, version, updated_at)
VALUES (COALESCE((SELECT pe.person_id FROM end_users pe WHERE pe.id = @end_user_id), @end_user_id), @creator_id, @profile, true, 1, now())
ON CONFLICT (end_user_id) DO UPDATE SET profile = EXCLUDED.profile, edited_by_creator = true,
    version = end_user_memory.version + 1, updated_at = now()
RETURNING *;

-- name: SaveExtractedMemory :one
-- An extraction result, stored only if the profile is still the version the extraction read
-- (read_version 0: there was no profile) and the extraction read newer messages. No row means
-- the profile changed meanwhile (an edit, an erase, another extraction). The profile is the
-- person's.
INSERT INTO end_user_memory (end_user_id, creator_id, profile, extracted_seq, version, updated_at)
VALUES (COALESCE((SELECT pe.person_id FROM end_users pe WHERE pe.id = @end_user_id), @end_user_id), @creator_id, @profile, @extracted_seq, 1, now())
ON CONFLICT (end_user_id) DO UPDATE SET profile = EXCLUDED.profile, extracted_seq = EXCLUDED.extracted_seq,
    version = end_user_memory.version + 1, updated_at = now()
WHERE end_user_memory.version = @read_version AND end_user_memory.extracted_seq < EXCLUDED.extracted_seq
RETURNING *;

-- name: EraseMemory :one
-- Erasing empties the profile and moves the extraction floor past every message of the end user
-- so far: what was erased is never extracted again from old messages. Returns the profile as it
-- was before ('{}' when there was none). The profile and messages are the person's (every end
-- user linked into it).
WITH person AS (
    SELECT COALESCE((SELECT pe.person_id FROM end_users pe WHERE pe.id = @end_user_id), @end_user_id) AS id
), old AS (
    SELECT e.profile FROM end_user_memory e WHERE e.end_user_id = (SELECT id FROM person)
), last AS (
    SELECT COALESCE(max(m.gseq), 0)::bigint AS seq
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE c.end_user_id = ANY(ARRAY(SELECT @end_user_id::uuid UNION SELECT pi.id FROM end_users pi WHERE pi.person_id = (SELECT pe.person_id FROM end_users pe WHERE pe.id = @end_user_id)))
), erased AS (
    INSERT INTO end_user_memory (end_user_id, creator_id, profile, extracted_seq, version, updated_at)
    SELECT (SELECT id FROM person), @creator_id, '{}', last.seq, 1, now() FROM last
    ON CONFLICT (end_user_id) DO UPDATE SET profile = '{}', edited_by_creator = false,
        extracted_seq = GREATEST(end_user_memory.extracted_seq, EXCLUDED.extracted_seq),
        version = end_user_memory.version + 1, updated_at = now()
    RETURNING end_user_id
)
SELECT COALESCE((SELECT profile FROM old), '{}')::jsonb AS previous FROM erased;

-- name: MemoryState :one
-- What the extractor needs to decide whether to run: the floor and version of the profile, and
-- the end user's messages written after the floor: how many, the newest, and how long ago it was
-- written by the database's clock (the clock that stamped it). Profile and messages are the
-- person's (every end user linked into it).
WITH person AS (
    SELECT COALESCE((SELECT pe.person_id FROM end_users pe WHERE pe.id = @end_user_id), @end_user_id) AS id
), mem AS (
    SELECT COALESCE((SELECT extracted_seq FROM end_user_memory e WHERE e.end_user_id = (SELECT id FROM person)), 0)::bigint AS floor,
           COALESCE((SELECT version FROM end_user_memory e WHERE e.end_user_id = (SELECT id FROM person)), 0)::bigint AS version
)
SELECT mem.floor AS extracted_seq, mem.version,
       count(m.id) AS pending,
       COALESCE(max(m.gseq), 0)::bigint AS latest_gseq,
       COALESCE(EXTRACT(EPOCH FROM now() - max(m.created_at)), 0)::float8 AS quiet_seconds
FROM mem
LEFT JOIN conversations c ON c.end_user_id = ANY(ARRAY(SELECT @end_user_id::uuid UNION SELECT pi.id FROM end_users pi WHERE pi.person_id = (SELECT pe.person_id FROM end_users pe WHERE pe.id = @end_user_id)))
LEFT JOIN messages m ON m.conversation_id = c.id AND m.role = 'user' AND m.gseq > mem.floor
GROUP BY mem.floor, mem.version;

-- name: EndUserMessagesAfter :many
-- The newest messages of an end user, across their conversations, stored after after_gseq (the
-- global insertion order, comparable across conversations); oldest first. The messages are the
-- person's: every end user linked into it.
SELECT * FROM (
    SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE c.end_user_id = ANY(ARRAY(SELECT @end_user_id::uuid UNION SELECT pi.id FROM end_users pi WHERE pi.person_id = (SELECT pe.person_id FROM end_users pe WHERE pe.id = @end_user_id))) AND m.gseq > @after_gseq AND m.role IN ('user', 'assistant', 'creator')
      AND m.body <> ''
    ORDER BY m.gseq DESC LIMIT @max_messages
) recent ORDER BY gseq;
