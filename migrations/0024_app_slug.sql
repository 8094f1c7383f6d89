-- +goose Up
-- The creator's slug: the path of their installable app, /a/<slug>/ (issue 16, docs/app.md).
-- Unique across the deployment: the app is reached before any tenant is known. Like widget_keys,
-- a lookup table outside RLS that the app role cannot touch; it goes through SECURITY DEFINER
-- functions: setting (own tenant only), reading one's own, finding the creator of a slug, and
-- whether a slug is taken. A creator has no row until the slug is first needed (the gateway
-- generates it from the coach's name); the creator may change it.
CREATE TABLE app_slugs (
    creator_id uuid PRIMARY KEY REFERENCES creators (id) ON DELETE CASCADE,
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Sets the current tenant's slug; false when another creator has it.
-- +goose StatementBegin
CREATE FUNCTION app_set_slug(p_creator_id uuid, p_slug text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_creator_id IS DISTINCT FROM NULLIF(current_setting('app.creator_id', true), '')::uuid THEN
        RAISE EXCEPTION 'app_set_slug: creator % is not the current tenant', p_creator_id
            USING ERRCODE = '42501';
    END IF;
    IF EXISTS (SELECT 1 FROM app_slugs s WHERE s.slug = p_slug AND s.creator_id <> p_creator_id) THEN
        RETURN false;
    END IF;
    INSERT INTO app_slugs (creator_id, slug) VALUES (p_creator_id, p_slug)
    ON CONFLICT (creator_id) DO UPDATE SET slug = EXCLUDED.slug, updated_at = now();
    RETURN true;
END
$$;
-- +goose StatementEnd

-- The current tenant's slug (NULL: none yet).
-- +goose StatementBegin
CREATE FUNCTION app_slug_of(p_creator_id uuid)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT s.slug FROM app_slugs s WHERE s.creator_id = p_creator_id
      AND p_creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app_creator_by_slug(p_slug text)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT s.creator_id FROM app_slugs s WHERE s.slug = p_slug $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app_slug_taken(p_slug text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM app_slugs s WHERE s.slug = p_slug) $$;
-- +goose StatementEnd

REVOKE ALL ON app_slugs FROM PUBLIC;
REVOKE ALL ON FUNCTION app_set_slug(uuid, text), app_slug_of(uuid), app_creator_by_slug(text), app_slug_taken(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_set_slug(uuid, text), app_slug_of(uuid), app_creator_by_slug(text), app_slug_taken(text) TO coachwire_app;

-- +goose Down
DROP FUNCTION app_slug_taken(text);
DROP FUNCTION app_creator_by_slug(text);
DROP FUNCTION app_slug_of(uuid);
DROP FUNCTION app_set_slug(uuid, text);
DROP TABLE app_slugs;
