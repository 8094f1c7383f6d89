package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWidgetLookSettings: the widget's look (colour, corner, theme, language, launcher text) is
// part of the widget settings: checked, stored, kept by a PATCH that leaves it out, and handed
// to the widget with its session (only what is set, keyed by the data- option it stands for).
func TestWidgetLookSettings(t *testing.T) {
	t.Parallel()
	e := newProviderEnv(t)
	cr := e.c.Register(t)
	ctx := context.Background()
	patch := func(body map[string]any) (int, map[string]any) {
		t.Helper()
		st, raw, err := e.c.Do(ctx, "PATCH", "/api/v1/widget/settings", cr.AccessToken, body, nil)
		require.NoError(t, err)
		var out map[string]any
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
		return st, out
	}
	st, out := patch(map[string]any{})
	require.Equal(t, http.StatusOK, st)
	for _, k := range []string{"color", "position", "theme", "language", "launcher_text"} {
		require.Equal(t, "", out[k], "%s defaults to the widget's own", k)
	}
	for _, c := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"color": "teal"}, "bad_color"},
		{map[string]any{"color": "#0f766"}, "bad_color"},
		{map[string]any{"position": "top"}, "bad_position"},
		{map[string]any{"theme": "Dark"}, "bad_theme"},
		{map[string]any{"language": "it"}, "bad_language"},
		{map[string]any{"launcher_text": "Ask\nMaya"}, "bad_launcher_text"},
		{map[string]any{"launcher_text": "Ask Maya, your coach for sleep, breath and habits"}, "bad_launcher_text"},
	} {
		st, out := patch(c.body)
		require.Equal(t, http.StatusBadRequest, st, "%v", c.body)
		require.Equal(t, c.code, out["error"].(map[string]any)["code"], "%v", c.body)
	}
	st, out = patch(map[string]any{"color": "#0F766E", "position": "left", "theme": "auto", "language": "es", "launcher_text": "  Pregunta a Maya "})
	require.Equal(t, http.StatusOK, st, "%v", out)
	want := map[string]any{"color": "#0f766e", "position": "left", "theme": "auto", "language": "es", "launcher_text": "Pregunta a Maya"}
	for k, v := range want {
		require.Equal(t, v, out[k], k)
	}
	st, out = patch(map[string]any{"name": "Maya"})
	require.Equal(t, http.StatusOK, st)
	for k, v := range want {
		require.Equal(t, v, out[k], "a PATCH without %s keeps it", k)
	}

	var sess struct {
		Coach struct {
			Look map[string]string `json:"look"`
		} `json:"coach"`
	}
	st, raw, err := e.c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": cr.WidgetKey, "anon_id": "anon-look-1"}, &sess)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Equal(t, map[string]string{"color": "#0f766e", "position": "left", "theme": "auto", "lang": "es", "launcher-text": "Pregunta a Maya"}, sess.Coach.Look)

	st, _ = patch(map[string]any{"color": "", "position": "", "theme": "", "language": "", "launcher_text": ""})
	require.Equal(t, http.StatusOK, st)
	sess.Coach.Look = nil
	st, raw, err = e.c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": cr.WidgetKey, "anon_id": "anon-look-1"}, &sess)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Empty(t, sess.Coach.Look, "cleared: the widget's defaults")
}
