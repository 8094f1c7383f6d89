package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// SetExportPage sets the export's page size (rows per transaction) and returns a func that
// restores it: TestWorkspaceExport makes pages of one row to cross every page boundary.
func SetExportPage(n int32) (restore func()) {
	old := exportPage.Swap(n)
	return func() { exportPage.Store(old) }
}

// TestExportMessagesPagesAcrossConversations: the messages of many conversations are read a
// page of messages per transaction, not a transaction (or more) per conversation, in
// conversation then seq order.
func TestExportMessagesPagesAcrossConversations(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	ctx := context.Background()
	creator := uuid.New()
	const convs, per = 40, 2
	if err := store.InTenant(ctx, creator, func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: creator, Name: "c", Email: creator.String() + "@example.com",
			WidgetKey: "wk_" + creator.String(), WidgetSecret: "s", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		for i := 0; i < convs; i++ {
			eu, conv := uuid.New(), uuid.New()
			if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: eu, CreatorID: creator, Channel: "widget", ExternalID: eu.String()}); err != nil {
				return err
			}
			if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: conv, CreatorID: creator, EndUserID: eu, Channel: "widget"}); err != nil {
				return err
			}
			for j := 0; j < per; j++ {
				if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: creator, ConversationID: conv,
					Role: "user", Body: fmt.Sprintf("m%d", j), Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	txs := 0
	cctx := db.WithBeforeCommit(ctx, func(context.Context, uuid.UUID, *db.Queries) error { txs++; return nil })
	e := &exporter{s: New(Deps{Store: store}), ctx: cctx, a: creatorAuth{CreatorID: creator}, size: 25}
	var got []map[string]any
	if err := e.messages(func(v any) error { got = append(got, v.(map[string]any)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != convs*per {
		t.Fatalf("%d messages exported, want %d", len(got), convs*per)
	}
	for i := 1; i < len(got); i++ {
		a, b := got[i-1]["conversation_id"].(uuid.UUID), got[i]["conversation_id"].(uuid.UUID)
		if a.String() > b.String() || (a == b && got[i-1]["seq"].(int64) >= got[i]["seq"].(int64)) {
			t.Fatalf("out of order at %d: %v %v then %v %v", i, a, got[i-1]["seq"], b, got[i]["seq"])
		}
	}
	// 80 messages in pages of 25: 4 transactions (the last one short), whatever the number of
	// conversations.
	if txs > 4 {
		t.Fatalf("%d transactions for %d messages in pages of 25", txs, convs*per)
	}
}
