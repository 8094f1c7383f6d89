-- +goose Up
-- The creator's slug: the path of their installable app, /a/<slug>/ (issue 16, docs/app.md).
-- Unique across the deployment: the app is reached before any tenant is known. Like widget_keys,
-- a lookup table outside RLS that the app role cannot touch; it goes through SECURITY DEFINER
-- functions: setting (own tenant only), reading one's own, finding the creator of a slug, and
-- whether a slug is taken. A creator has no row until the slug is first needed (the gateway
-- generates it from the coach's name); the creator may change it. A changed slug stays the
-- creator's as a retired row: installed apps and sent notifications name it, so /a/<old>/ leads
-- (redirected) to the same coach's current slug, and no other creator can claim it.
CREATE TABLE app_slugs (
    slug       text PRIMARY KEY CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    retired    boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- One current slug per creator.
CREATE UNIQUE INDEX app_slugs_current ON app_slugs (creator_id) WHERE NOT retired;
CREATE INDEX app_slugs_creator ON app_slugs (creator_id);

-- Sets the current tenant's slug (the previous one is retired, kept for the creator); false when
-- another creator has it, current or retired.
-- +goose StatementBegin
CREATE FUNCTION app_set_slug(p_creator_id uuid, p_slug text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    prev text;
BEGIN
    IF p_creator_id IS DISTINCT FROM NULLIF(current_setting('app.creator_id', true), '')::uuid THEN
        RAISE EXCEPTION 'app_set_slug: creator % is not the current tenant', p_creator_id
            USING ERRCODE = '42501';
    END IF;
    IF EXISTS (SELECT 1 FROM app_slugs s WHERE s.slug = p_slug AND s.creator_id <> p_creator_id) THEN
        RETURN false;
    END IF;
    UPDATE app_slugs SET retired = true, updated_at = now()
    WHERE creator_id = p_creator_id AND NOT retired AND slug <> p_slug
    RETURNING slug INTO prev;
    INSERT INTO app_slugs (slug, creator_id) VALUES (p_slug, p_creator_id)
    ON CONFLICT (slug) DO UPDATE SET retired = false, updated_at = now()
        WHERE app_slugs.creator_id = EXCLUDED.creator_id;
    IF NOT FOUND THEN
        -- Another creator claimed it concurrently: the previous slug stays current.
        UPDATE app_slugs SET retired = false WHERE slug = prev;
        RETURN false;
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- The current tenant's slug (NULL: none yet).
-- +goose StatementBegin
CREATE FUNCTION app_slug_of(p_creator_id uuid)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT s.slug FROM app_slugs s WHERE s.creator_id = p_creator_id AND NOT s.retired
      AND p_creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid $$;
-- +goose StatementEnd

-- The creator of a slug, current or retired.
-- +goose StatementBegin
CREATE FUNCTION app_creator_by_slug(p_slug text)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT s.creator_id FROM app_slugs s WHERE s.slug = p_slug $$;
-- +goose StatementEnd

-- The current slug of the creator of a slug (itself unless retired; NULL: unknown slug).
-- +goose StatementBegin
CREATE FUNCTION app_current_slug(p_slug text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT c.slug FROM app_slugs s JOIN app_slugs c ON c.creator_id = s.creator_id AND NOT c.retired
      WHERE s.slug = p_slug $$;
-- +goose StatementEnd

-- Whether a slug is some creator's, current or retired.
-- +goose StatementBegin
CREATE FUNCTION app_slug_taken(p_slug text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM app_slugs s WHERE s.slug = p_slug) $$;
-- +goose StatementEnd

REVOKE ALL ON app_slugs FROM PUBLIC;
REVOKE ALL ON FUNCTION app_set_slug(uuid, text), app_slug_of(uuid), app_creator_by_slug(text), app_current_slug(text), app_slug_taken(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_set_slug(uuid, text), app_slug_of(uuid), app_creator_by_slug(text), app_current_slug(text), app_slug_taken(text) TO coachwire_app;

-- +goose Down
DROP FUNCTION app_slug_taken(text);
DROP FUNCTION app_current_slug(text);
DROP FUNCTION app_creator_by_slug(text);
DROP FUNCTION app_slug_of(uuid);
DROP FUNCTION app_set_slug(uuid, text);
DROP TABLE app_slugs;
