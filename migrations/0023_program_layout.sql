-- +goose Up
-- The program builder (issue 11): where each step's node sits on the console's canvas, as
-- {"<step id>": {"x": …, "y": …}}. Presentation only: the scheduler never reads it. A column of
-- programs (already under RLS with FORCE and granted to the app role): no policy or grant changes.
ALTER TABLE programs ADD COLUMN layout jsonb NOT NULL DEFAULT '{}'::jsonb;

-- +goose Down
ALTER TABLE programs DROP COLUMN layout;
