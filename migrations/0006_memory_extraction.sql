-- +goose Up
-- Memory extraction (internal/memory): every write of a profile bumps version, and an extraction
-- only stores its result if the profile is still the version it started from, so a creator's
-- edit or an erase made while the model was thinking is never overwritten. extracted_seq is the
-- extraction floor: only messages after it are read, and erasing moves it past every message so
-- far, so erased facts are never extracted again from old messages.
ALTER TABLE end_user_memory ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- A profile belongs to an end user of the same creator. A foreign key is checked without row
-- security, so with end_user_id alone a creator could create a profile row for another
-- creator's end user (RLS only checks the row's own creator_id), and as end_user_id is the
-- primary key, that row would block the real one.
ALTER TABLE end_users ADD CONSTRAINT end_users_creator_id_id UNIQUE (creator_id, id);
ALTER TABLE end_user_memory DROP CONSTRAINT end_user_memory_end_user_id_fkey,
    ADD CONSTRAINT end_user_memory_end_user_fkey FOREIGN KEY (creator_id, end_user_id)
        REFERENCES end_users (creator_id, id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE end_user_memory DROP CONSTRAINT end_user_memory_end_user_fkey,
    ADD CONSTRAINT end_user_memory_end_user_id_fkey FOREIGN KEY (end_user_id) REFERENCES end_users (id) ON DELETE CASCADE;
ALTER TABLE end_users DROP CONSTRAINT end_users_creator_id_id;
ALTER TABLE end_user_memory DROP COLUMN version;
