package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestEndUserExportDevicesAndErasure: an app end user's export lists their push devices
// (name and push service, never the keys), and deleting the end user removes their push
// subscriptions and link codes.
func TestEndUserExportDevicesAndErasure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	s := e.register(t, uniqueEmail())
	eu := seedEndUsers(t, s.Creator.ID, 1, "app")[0]
	store := testenv.Store(t)
	ctx := context.Background()
	if err := store.InTenant(ctx, s.Creator.ID, func(q *db.Queries) error {
		if _, err := q.UpsertPushSubscription(ctx, db.UpsertPushSubscriptionParams{ID: uuid.New(), CreatorID: s.Creator.ID, EndUserID: eu,
			Endpoint: "https://push.example.com/send/abc", P256dh: "secret-p256dh", Auth: "secret-auth", Device: "Pixel 8"}); err != nil {
			return err
		}
		return q.InsertLinkCode(ctx, db.InsertLinkCodeParams{CreatorID: s.Creator.ID, CodeHash: []byte(uuid.NewString()), EndUserID: eu,
			ExpiresAt: time.Now().Add(time.Hour)})
	}); err != nil {
		t.Fatal(err)
	}

	r := e.do(t, "GET", "/api/v1/end-users/"+eu.String()+"/export", nil, bearer(s)...)
	if r.status != http.StatusOK {
		t.Fatalf("export: %d %s", r.status, r.body)
	}
	var ex struct {
		Devices []struct {
			Device      string `json:"device"`
			PushService string `json:"push_service"`
		} `json:"devices"`
	}
	if err := json.Unmarshal(r.body, &ex); err != nil {
		t.Fatal(err)
	}
	if len(ex.Devices) != 1 || ex.Devices[0].Device != "Pixel 8" || ex.Devices[0].PushService != "https://push.example.com" {
		t.Fatalf("export devices: %s", r.body)
	}
	for _, secret := range []string{"secret-p256dh", "secret-auth"} {
		if bytes.Contains(r.body, []byte(secret)) {
			t.Fatalf("export carries the subscription's keys: %s", r.body)
		}
	}

	// Counted before and after, in the creator's tenant (RLS: the app role sees no row outside it).
	count := func() (subs, codes int) {
		t.Helper()
		tx, err := store.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", s.Creator.ID.String()); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM push_subscriptions WHERE end_user_id = $1`, eu).Scan(&subs); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM link_codes WHERE end_user_id = $1`, eu).Scan(&codes); err != nil {
			t.Fatal(err)
		}
		return subs, codes
	}
	if subs, codes := count(); subs != 1 || codes != 1 {
		t.Fatalf("before delete: %d push subscriptions, %d link codes", subs, codes)
	}
	if r := e.do(t, "DELETE", "/api/v1/end-users/"+eu.String(), nil, bearer(s)...); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if subs, codes := count(); subs != 0 || codes != 0 {
		t.Fatalf("after delete: %d push subscriptions, %d link codes left", subs, codes)
	}
}
