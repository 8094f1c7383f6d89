package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestEveryChangeIsAudited: every creator route that is not a GET declares its audit action in
// routeAudit (or is listed in notAudited), and every declaration names a route of the table.
// A route added without a declaration fails here: add its line to routeAudit (audit.go).
func TestEveryChangeIsAudited(t *testing.T) {
	t.Parallel()
	s := New(Deps{})
	s.Handler()
	patterns := map[string]bool{}
	for _, r := range s.Routes() {
		patterns[r.Pattern] = true
		if r.Perm == "" || strings.HasPrefix(r.Pattern, "GET ") {
			continue
		}
		if r.Audit == "" && !notAudited[r.Pattern] {
			t.Errorf("%s changes something but declares no audit action (routeAudit in audit.go)", r.Pattern)
		}
		if r.Audit != "" && notAudited[r.Pattern] {
			t.Errorf("%s is both audited and listed in notAudited", r.Pattern)
		}
	}
	for p, spec := range routeAudit {
		if !patterns[p] {
			t.Errorf("routeAudit declares %s, which is not a route", p)
		}
		if spec.Action == "" || strings.Count(spec.Action, ".") != 1 || spec.Target == "" {
			t.Errorf("%s: incomplete declaration %+v", p, spec)
		}
		if spec.Param != "" && !strings.Contains(p, "{"+spec.Param+"}") {
			t.Errorf("%s: target parameter %q is not in the pattern", p, spec.Param)
		}
	}
	for p := range notAudited {
		if !patterns[p] {
			t.Errorf("notAudited lists %s, which is not a route", p)
		}
	}
}

// TestAuditSameTransaction: the entry and the change commit or roll back together. A change
// whose transaction fails leaves no entry; an entry that cannot be written takes the change
// with it; a read-only transaction writes none, and the entry is written once per request.
func TestAuditSameTransaction(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	ctx := context.Background()
	creator := uuid.New()
	require := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	require(store.InTenant(ctx, creator, func(q *db.Queries) error {
		_, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: creator, Name: "c", Email: creator.String() + "@example.com",
			WidgetKey: "wk_" + creator.String(), WidgetSecret: "s", AllowedOrigins: []string{}})
		return err
	}))
	s := New(Deps{Store: store})
	r := httptest.NewRequest(http.MethodDelete, "/api/v1/documents/x", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	count := func(action string) (n int) {
		t.Helper()
		require(store.InTenant(ctx, creator, func(q *db.Queries) error {
			rows, err := q.ListAuditEntries(ctx, db.ListAuditEntriesParams{Action: &action, Lim: 100})
			n = len(rows)
			return err
		}))
		return n
	}
	insertDoc := func(q *db.Queries) (uuid.UUID, error) {
		id := uuid.New()
		_, err := q.InsertDocument(ctx, db.InsertDocumentParams{ID: id, CreatorID: creator, Title: "t", Format: "text", Body: "b", ContentHash: id[:]})
		return id, err
	}
	docExists := func(id uuid.UUID) bool {
		var err error
		require(store.InTenant(ctx, creator, func(q *db.Queries) error {
			_, err = q.GetDocument(ctx, id)
			return nil
		}))
		return err == nil
	}

	// 1. The change fails after writing: nothing stays, no entry.
	actx := s.auditFor(ctx, r, creator, auditSpec{Action: "document.uploaded", Target: "document"})
	auditActor(actx, "user", uuid.New(), "ana@example.com")
	boom := errors.New("boom")
	var doc uuid.UUID
	err := store.InTenant(actx, creator, func(q *db.Queries) (err error) {
		if doc, err = insertDoc(q); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || docExists(doc) || count("document.uploaded") != 0 {
		t.Fatalf("failed change: err %v, document kept %v, entries %d", err, docExists(doc), count("document.uploaded"))
	}

	// 2. The entry cannot be written (an action the table's CHECK refuses): the change rolls
	// back with it.
	bad := s.auditFor(ctx, r, creator, auditSpec{Action: "Not An Action", Target: "document"})
	err = store.InTenant(bad, creator, func(q *db.Queries) (err error) {
		doc, err = insertDoc(q)
		return err
	})
	if err == nil || docExists(doc) {
		t.Fatalf("unwritable entry: err %v, document kept %v", err, docExists(doc))
	}

	// 3. A read-only transaction first, then the change, then another change in the same request:
	// one entry, in the change's transaction, with the address and details.
	ok := s.auditFor(ctx, r, creator, auditSpec{Action: "document.deleted", Target: "document"})
	auditActor(ok, "user", uuid.New(), "ana@example.com")
	require(store.InTenant(ok, creator, func(q *db.Queries) error { _, err := q.ListDocuments(ctx, 1); return err }))
	if count("document.deleted") != 0 {
		t.Fatal("a read-only transaction wrote an entry")
	}
	require(store.InTenant(ok, creator, func(q *db.Queries) (err error) {
		doc, err = insertDoc(q)
		auditTarget(ok, doc)
		auditDetail(ok, "title", "t")
		return err
	}))
	require(store.InTenant(ok, creator, func(q *db.Queries) (err error) { _, err = insertDoc(q); return err }))
	var rows []db.AuditLog
	action := "document.deleted"
	require(store.InTenant(ctx, creator, func(q *db.Queries) (err error) {
		rows, err = q.ListAuditEntries(ctx, db.ListAuditEntriesParams{Action: &action, Lim: 100})
		return err
	}))
	var details map[string]string
	_ = json.Unmarshal(rows[0].Details, &details)
	if len(rows) != 1 || rows[0].TargetID != doc.String() || rows[0].Ip != "198.51.100.7" || rows[0].ActorLabel != "ana@example.com" || details["title"] != "t" {
		t.Fatalf("entries %+v", rows)
	}

	// 4. A change committed with its entry, then undone by the same request (auditUndone): the
	// undoing is on record too, with the same actor and target.
	actor := uuid.New()
	undo := s.auditFor(ctx, r, creator, auditSpec{Action: "channel.added", Target: "channel"})
	auditActor(undo, "user", actor, "ana@example.com")
	s.auditUndone(undo, r, creatorAuth{CreatorID: creator}, "channel.removed", "refused")
	if count("channel.removed") != 0 {
		t.Fatal("an undo of a change never committed was recorded")
	}
	require(store.InTenant(undo, creator, func(q *db.Queries) (err error) {
		doc, err = insertDoc(q)
		auditTarget(undo, doc)
		return err
	}))
	s.auditUndone(undo, r, creatorAuth{CreatorID: creator}, "channel.removed", "refused")
	removed := "channel.removed"
	require(store.InTenant(ctx, creator, func(q *db.Queries) (err error) {
		rows, err = q.ListAuditEntries(ctx, db.ListAuditEntriesParams{Action: &removed, Lim: 100})
		return err
	}))
	if len(rows) != 1 || rows[0].TargetID != doc.String() || rows[0].ActorID.UUID != actor || !strings.Contains(string(rows[0].Details), "refused") {
		t.Fatalf("undone: %+v", rows)
	}
}
