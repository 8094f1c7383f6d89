-- +goose Up
-- The widget's look, set in the console's Coach & widget page and handed to the widget with its
-- session: accent colour, corner, theme, interface language and launcher text. '' means the
-- widget's default (or the page's data- attribute, which wins). Columns of creators (already
-- under RLS with FORCE and granted to the app role): no policy or grant changes.
ALTER TABLE creators
    ADD COLUMN widget_color         text NOT NULL DEFAULT '',
    ADD COLUMN widget_position      text NOT NULL DEFAULT '',
    ADD COLUMN widget_theme         text NOT NULL DEFAULT '',
    ADD COLUMN widget_language      text NOT NULL DEFAULT '',
    ADD COLUMN widget_launcher_text text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE creators
    DROP COLUMN widget_color,
    DROP COLUMN widget_position,
    DROP COLUMN widget_theme,
    DROP COLUMN widget_language,
    DROP COLUMN widget_launcher_text;
