-- name: InsertCreator :one
INSERT INTO creators (id, name, email, widget_key, widget_secret, persona, allowed_origins)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: RegisterWidgetKey :exec
SELECT widget_register_key(@creator_id::uuid, @widget_key::text);

-- name: CreatorByWidgetKey :one
SELECT widget_creator_by_key(@widget_key::text)::uuid AS creator_id;

-- name: GetCreator :one
SELECT * FROM creators WHERE id = $1;

-- name: UpdateWidgetSettings :one
-- A NULL parameter keeps the column's value (PATCH); PUT passes every one.
UPDATE creators
SET persona = COALESCE(sqlc.narg(persona)::text, persona),
    allowed_origins = COALESCE(sqlc.narg(allowed_origins)::text[], allowed_origins),
    identity_required = COALESCE(sqlc.narg(identity_required)::boolean, identity_required),
    name = COALESCE(sqlc.narg(name)::text, name),
    widget_avatar_url = COALESCE(sqlc.narg(avatar_url)::text, widget_avatar_url),
    widget_welcome = COALESCE(sqlc.narg(welcome)::text, widget_welcome),
    widget_suggestions = COALESCE(sqlc.narg(suggestions)::text[], widget_suggestions),
    widget_branding = COALESCE(sqlc.narg(branding)::boolean, widget_branding),
    widget_link_sources = COALESCE(sqlc.narg(link_sources)::boolean, widget_link_sources),
    widget_color = COALESCE(sqlc.narg(color)::text, widget_color),
    widget_position = COALESCE(sqlc.narg(position)::text, widget_position),
    widget_theme = COALESCE(sqlc.narg(theme)::text, widget_theme),
    widget_language = COALESCE(sqlc.narg(language)::text, widget_language),
    widget_launcher_text = COALESCE(sqlc.narg(launcher_text)::text, widget_launcher_text), updated_at = now()
WHERE id = @id
RETURNING *;

-- name: TopDocumentTitles :many
-- The creator's largest indexed documents: the widget offers them as first questions when the
-- creator has not written any.
SELECT title FROM documents WHERE creator_id = @creator_id AND status = 'indexed' AND title <> ''
ORDER BY chunk_count DESC, created_at DESC LIMIT @max_titles;

-- name: DocumentSourceURLs :many
-- The pages the creator's indexed documents were imported from, for the widget's source links.
SELECT id, source_url FROM documents WHERE creator_id = @creator_id AND status = 'indexed' AND source_url <> ''
ORDER BY updated_at DESC LIMIT @max_urls;
