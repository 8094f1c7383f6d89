-- +goose Up
-- The coach as the widget shows it: an avatar, a welcome message, suggested first questions,
-- whether the "powered by coachwire" line shows and whether sources link to the page a document
-- was imported from. Columns of creators (already under RLS with
-- FORCE and granted to the app role): no policy or grant changes.
ALTER TABLE creators
    ADD COLUMN widget_avatar_url  text    NOT NULL DEFAULT '',
    ADD COLUMN widget_welcome     text    NOT NULL DEFAULT '',
    ADD COLUMN widget_suggestions text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN widget_branding    boolean NOT NULL DEFAULT true,
    ADD COLUMN widget_link_sources boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE creators
    DROP COLUMN widget_avatar_url,
    DROP COLUMN widget_welcome,
    DROP COLUMN widget_suggestions,
    DROP COLUMN widget_branding,
    DROP COLUMN widget_link_sources;
