-- +goose Up
-- Every reference between tenant tables names its parent by (creator_id, id).
--
-- A foreign key is checked without row-level security: with the parent's id alone, a creator
-- could write a row in their own tenant (RLS only checks the row's own creator_id) pointing at
-- another creator's end user, conversation, message, channel, campaign, program or enrollment,
-- and where the reference is part of a unique key (deliveries, nudge_deliveries, enrollments)
-- that row would block the real one. Pairing creator_id with the reference makes another
-- creator's row as missing as a row that does not exist. end_user_memory got this in 0006;
-- internal/db's TestEveryTenantForeignKeyIncludesCreator fails on any foreign key that omits it.
--
-- Only constraints change (no column does). A nullable reference (channel_id, campaign_id,
-- enrollment_id) is not checked while NULL (MATCH SIMPLE); ON DELETE SET NULL names the
-- reference column only, so deleting a channel never tries to null creator_id
-- (needs PostgreSQL 15 or later).

-- The parents' keys the composite references point at (end_users got its own in 0006).
ALTER TABLE conversations ADD CONSTRAINT conversations_creator_id_id UNIQUE (creator_id, id);
ALTER TABLE messages ADD CONSTRAINT messages_creator_id_id UNIQUE (creator_id, id);
ALTER TABLE channels ADD CONSTRAINT channels_creator_id_id UNIQUE (creator_id, id);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_creator_id_id UNIQUE (creator_id, id);
ALTER TABLE programs ADD CONSTRAINT programs_creator_id_id UNIQUE (creator_id, id);
ALTER TABLE program_enrollments ADD CONSTRAINT program_enrollments_creator_id_id UNIQUE (creator_id, id);

-- Rows that already point into another creator's tenant can only come from the defect this
-- migration closes; they would make the new constraints fail to validate. A required reference
-- takes its row with it (as deleting the parent would), an optional one is cleared. The
-- migration owner is itself subject to the tenant policies (FORCE), so it lifts FORCE for the
-- clean-up and the validation below, inside this migration's transaction, and restores it.
ALTER TABLE end_users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE conversations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
ALTER TABLE deliveries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE delivery_parts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE campaign_occurrences NO FORCE ROW LEVEL SECURITY;
ALTER TABLE program_enrollments NO FORCE ROW LEVEL SECURITY;
ALTER TABLE nudge_deliveries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE channels NO FORCE ROW LEVEL SECURITY;
ALTER TABLE campaigns NO FORCE ROW LEVEL SECURITY;
ALTER TABLE programs NO FORCE ROW LEVEL SECURITY;

UPDATE end_users c SET channel_id = NULL FROM channels p WHERE p.id = c.channel_id AND p.creator_id <> c.creator_id;
UPDATE conversations c SET channel_id = NULL FROM channels p WHERE p.id = c.channel_id AND p.creator_id <> c.creator_id;
DELETE FROM conversations c USING end_users p WHERE p.id = c.end_user_id AND p.creator_id <> c.creator_id;
DELETE FROM messages c USING conversations p WHERE p.id = c.conversation_id AND p.creator_id <> c.creator_id;
DELETE FROM deliveries c USING messages p WHERE p.id = c.message_id AND p.creator_id <> c.creator_id;
DELETE FROM delivery_parts c USING messages p WHERE p.id = c.message_id AND p.creator_id <> c.creator_id;
DELETE FROM campaign_occurrences c USING campaigns p WHERE p.id = c.campaign_id AND p.creator_id <> c.creator_id;
DELETE FROM program_enrollments c USING programs p WHERE p.id = c.program_id AND p.creator_id <> c.creator_id;
DELETE FROM program_enrollments c USING end_users p WHERE p.id = c.end_user_id AND p.creator_id <> c.creator_id;
DELETE FROM nudge_deliveries c USING end_users p WHERE p.id = c.end_user_id AND p.creator_id <> c.creator_id;
UPDATE nudge_deliveries c SET campaign_id = NULL FROM campaigns p WHERE p.id = c.campaign_id AND p.creator_id <> c.creator_id;
UPDATE nudge_deliveries c SET enrollment_id = NULL FROM program_enrollments p WHERE p.id = c.enrollment_id AND p.creator_id <> c.creator_id;

ALTER TABLE end_users DROP CONSTRAINT end_users_channel_id_fkey,
    ADD CONSTRAINT end_users_channel_fkey FOREIGN KEY (creator_id, channel_id)
        REFERENCES channels (creator_id, id) ON DELETE SET NULL (channel_id);
ALTER TABLE conversations DROP CONSTRAINT conversations_end_user_id_fkey,
    ADD CONSTRAINT conversations_end_user_fkey FOREIGN KEY (creator_id, end_user_id)
        REFERENCES end_users (creator_id, id) ON DELETE CASCADE,
    DROP CONSTRAINT conversations_channel_id_fkey,
    ADD CONSTRAINT conversations_channel_fkey FOREIGN KEY (creator_id, channel_id)
        REFERENCES channels (creator_id, id) ON DELETE SET NULL (channel_id);
ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey,
    ADD CONSTRAINT messages_conversation_fkey FOREIGN KEY (creator_id, conversation_id)
        REFERENCES conversations (creator_id, id) ON DELETE CASCADE;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_message_id_fkey,
    ADD CONSTRAINT deliveries_message_fkey FOREIGN KEY (creator_id, message_id)
        REFERENCES messages (creator_id, id) ON DELETE CASCADE;
ALTER TABLE delivery_parts DROP CONSTRAINT delivery_parts_message_id_fkey,
    ADD CONSTRAINT delivery_parts_message_fkey FOREIGN KEY (creator_id, message_id)
        REFERENCES messages (creator_id, id) ON DELETE CASCADE;
-- channel_keys is filled by a trigger from the channel row itself; the composite key states it.
ALTER TABLE channel_keys DROP CONSTRAINT channel_keys_channel_id_fkey,
    ADD CONSTRAINT channel_keys_channel_fkey FOREIGN KEY (creator_id, channel_id)
        REFERENCES channels (creator_id, id) ON DELETE CASCADE;
ALTER TABLE campaign_occurrences DROP CONSTRAINT campaign_occurrences_campaign_id_fkey,
    ADD CONSTRAINT campaign_occurrences_campaign_fkey FOREIGN KEY (creator_id, campaign_id)
        REFERENCES campaigns (creator_id, id) ON DELETE CASCADE;
ALTER TABLE program_enrollments DROP CONSTRAINT program_enrollments_program_id_fkey,
    ADD CONSTRAINT program_enrollments_program_fkey FOREIGN KEY (creator_id, program_id)
        REFERENCES programs (creator_id, id) ON DELETE CASCADE,
    DROP CONSTRAINT program_enrollments_end_user_id_fkey,
    ADD CONSTRAINT program_enrollments_end_user_fkey FOREIGN KEY (creator_id, end_user_id)
        REFERENCES end_users (creator_id, id) ON DELETE CASCADE;
ALTER TABLE nudge_deliveries DROP CONSTRAINT nudge_deliveries_end_user_id_fkey,
    ADD CONSTRAINT nudge_deliveries_end_user_fkey FOREIGN KEY (creator_id, end_user_id)
        REFERENCES end_users (creator_id, id) ON DELETE CASCADE,
    DROP CONSTRAINT nudge_deliveries_campaign_id_fkey,
    ADD CONSTRAINT nudge_deliveries_campaign_fkey FOREIGN KEY (creator_id, campaign_id)
        REFERENCES campaigns (creator_id, id) ON DELETE CASCADE,
    DROP CONSTRAINT nudge_deliveries_enrollment_id_fkey,
    ADD CONSTRAINT nudge_deliveries_enrollment_fkey FOREIGN KEY (creator_id, enrollment_id)
        REFERENCES program_enrollments (creator_id, id) ON DELETE CASCADE;

-- Validating a new foreign key reads both tables as the migration owner, without lifting
-- FORCE: under it the owner would see no row of either table (nothing would be checked) or of
-- the parent only (channel_keys, which has no row security: every row would fail). So FORCE
-- comes back only now that every constraint is validated.
ALTER TABLE end_users FORCE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
ALTER TABLE delivery_parts FORCE ROW LEVEL SECURITY;
ALTER TABLE campaign_occurrences FORCE ROW LEVEL SECURITY;
ALTER TABLE program_enrollments FORCE ROW LEVEL SECURITY;
ALTER TABLE nudge_deliveries FORCE ROW LEVEL SECURITY;
ALTER TABLE channels FORCE ROW LEVEL SECURITY;
ALTER TABLE campaigns FORCE ROW LEVEL SECURITY;
ALTER TABLE programs FORCE ROW LEVEL SECURITY;

-- +goose Down
-- As above: the owner validates the restored keys without FORCE.
ALTER TABLE end_users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE conversations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
ALTER TABLE deliveries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE delivery_parts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE campaign_occurrences NO FORCE ROW LEVEL SECURITY;
ALTER TABLE program_enrollments NO FORCE ROW LEVEL SECURITY;
ALTER TABLE nudge_deliveries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE channels NO FORCE ROW LEVEL SECURITY;
ALTER TABLE campaigns NO FORCE ROW LEVEL SECURITY;
ALTER TABLE programs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE nudge_deliveries DROP CONSTRAINT nudge_deliveries_end_user_fkey,
    ADD CONSTRAINT nudge_deliveries_end_user_id_fkey FOREIGN KEY (end_user_id) REFERENCES end_users (id) ON DELETE CASCADE,
    DROP CONSTRAINT nudge_deliveries_campaign_fkey,
    ADD CONSTRAINT nudge_deliveries_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE,
    DROP CONSTRAINT nudge_deliveries_enrollment_fkey,
    ADD CONSTRAINT nudge_deliveries_enrollment_id_fkey FOREIGN KEY (enrollment_id) REFERENCES program_enrollments (id) ON DELETE CASCADE;
ALTER TABLE program_enrollments DROP CONSTRAINT program_enrollments_program_fkey,
    ADD CONSTRAINT program_enrollments_program_id_fkey FOREIGN KEY (program_id) REFERENCES programs (id) ON DELETE CASCADE,
    DROP CONSTRAINT program_enrollments_end_user_fkey,
    ADD CONSTRAINT program_enrollments_end_user_id_fkey FOREIGN KEY (end_user_id) REFERENCES end_users (id) ON DELETE CASCADE;
ALTER TABLE campaign_occurrences DROP CONSTRAINT campaign_occurrences_campaign_fkey,
    ADD CONSTRAINT campaign_occurrences_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE;
ALTER TABLE channel_keys DROP CONSTRAINT channel_keys_channel_fkey,
    ADD CONSTRAINT channel_keys_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE;
ALTER TABLE delivery_parts DROP CONSTRAINT delivery_parts_message_fkey,
    ADD CONSTRAINT delivery_parts_message_id_fkey FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_message_fkey,
    ADD CONSTRAINT deliveries_message_id_fkey FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE;
ALTER TABLE messages DROP CONSTRAINT messages_conversation_fkey,
    ADD CONSTRAINT messages_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE;
ALTER TABLE conversations DROP CONSTRAINT conversations_end_user_fkey,
    ADD CONSTRAINT conversations_end_user_id_fkey FOREIGN KEY (end_user_id) REFERENCES end_users (id) ON DELETE CASCADE,
    DROP CONSTRAINT conversations_channel_fkey,
    ADD CONSTRAINT conversations_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE SET NULL;
ALTER TABLE end_users DROP CONSTRAINT end_users_channel_fkey,
    ADD CONSTRAINT end_users_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE SET NULL;
ALTER TABLE end_users FORCE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
ALTER TABLE delivery_parts FORCE ROW LEVEL SECURITY;
ALTER TABLE campaign_occurrences FORCE ROW LEVEL SECURITY;
ALTER TABLE program_enrollments FORCE ROW LEVEL SECURITY;
ALTER TABLE nudge_deliveries FORCE ROW LEVEL SECURITY;
ALTER TABLE channels FORCE ROW LEVEL SECURITY;
ALTER TABLE campaigns FORCE ROW LEVEL SECURITY;
ALTER TABLE programs FORCE ROW LEVEL SECURITY;
ALTER TABLE program_enrollments DROP CONSTRAINT program_enrollments_creator_id_id;
ALTER TABLE programs DROP CONSTRAINT programs_creator_id_id;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_creator_id_id;
ALTER TABLE channels DROP CONSTRAINT channels_creator_id_id;
ALTER TABLE messages DROP CONSTRAINT messages_creator_id_id;
ALTER TABLE conversations DROP CONSTRAINT conversations_creator_id_id;
