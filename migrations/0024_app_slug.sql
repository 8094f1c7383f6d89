-- +goose Up
-- The creator's slug: the path of their installable app, /a/<slug> (issue 16). Unique across the
-- deployment (the app is reached before any tenant is known), NULL until first needed (the
-- gateway generates it from the coach's name), editable by the creator in the widget settings.
-- A column of creators (already under RLS with FORCE and granted to the app role); the lookup by
-- slug runs before a tenant is known, so it goes through a SECURITY DEFINER function like
-- widget_creator_by_key.
ALTER TABLE creators
    ADD COLUMN app_slug text UNIQUE CHECK (app_slug ~ '^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$');

-- +goose StatementBegin
CREATE FUNCTION app_creator_by_slug(p_slug text)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT c.id FROM creators c WHERE c.app_slug = p_slug $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app_slug_taken(p_slug text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM creators c WHERE c.app_slug = p_slug) $$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION app_creator_by_slug(text), app_slug_taken(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_creator_by_slug(text), app_slug_taken(text) TO coachwire_app;

-- +goose Down
DROP FUNCTION app_slug_taken(text);
DROP FUNCTION app_creator_by_slug(text);
ALTER TABLE creators DROP COLUMN app_slug;
