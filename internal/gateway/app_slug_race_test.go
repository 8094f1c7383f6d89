package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/gateway/widget"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestAppSlugGeneratedWhileAnotherCoachTakesIt: the first read of the settings generates the
// app's slug from the coach's name; when another coach takes that slug in a transaction that
// commits while this one waits on it, the read still answers 200 with the next free slug, not
// a 500 from the unique index.
func TestAppSlugGeneratedWhileAnotherCoachTakesIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	y := e.register(t, uniqueEmail())
	x := e.register(t, uniqueEmail())
	base := widget.SlugFromName(y.Creator.Name)

	ctx := context.Background()
	store := testenv.Store(t)
	tx, err := store.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", x.Creator.ID.String()); err != nil {
		t.Fatal(err)
	}
	var xpid int
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&xpid); err != nil {
		t.Fatal(err)
	}
	var ok bool
	if err := tx.QueryRow(ctx, "SELECT app_set_slug($1, $2)", x.Creator.ID, base).Scan(&ok); err != nil || !ok {
		t.Fatalf("x takes %q: %v %v", base, ok, err)
	}

	got := make(chan resp, 1)
	go func() { got <- e.do(t, "GET", "/api/v1/widget/settings", nil, bearer(y)...) }()
	// Wait until y's insert waits on x's uncommitted row, then commit x.
	testenv.Eventually(t, 30*time.Second, func() bool {
		var n int
		if err := store.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, xpid).Scan(&n); err != nil {
			t.Error(err)
			return true
		}
		return n > 0
	}, "y's slug insert waiting on x's")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.status != http.StatusOK {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
	var s struct {
		AppSlug string `json:"app_slug"`
	}
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatal(err)
	}
	if s.AppSlug == base || s.AppSlug == "" {
		t.Fatalf("y's slug %q (x has %q)", s.AppSlug, base)
	}
}
