package db_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestMessageSeqPerConversation: a conversation's messages are numbered 1, 2, 3 ... whatever
// other creators store meanwhile: one by one, concurrently, set-based (nudge batches), and a
// message stored again (a redelivery) takes no number.
func TestMessageSeqPerConversation(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	a, b := seed(t, s), seed(t, s) // one message each
	ctx := context.Background()
	insert := func(x seeded, id uuid.UUID) (db.Message, error) {
		var m db.Message
		err := s.InTenant(ctx, x.creator, func(q *db.Queries) error {
			var err error
			m, err = q.InsertMessage(ctx, db.InsertMessageParams{ID: id, CreatorID: x.creator, ConversationID: x.conversation,
				Role: "user", Body: "hi", Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"})
			return err
		})
		return m, err
	}

	// Interleaved: B's traffic does not show in A's numbers.
	for i := range 4 {
		m, err := insert(a, uuid.New())
		require.NoError(t, err)
		require.EqualValues(t, i+2, m.Seq)
		for range 10 {
			_, err := insert(b, uuid.New())
			require.NoError(t, err)
		}
	}
	// A redelivery stores nothing and takes no number.
	id := uuid.New()
	m, err := insert(a, id)
	require.NoError(t, err)
	require.EqualValues(t, 6, m.Seq)
	_, err = insert(a, id)
	require.True(t, db.IsNotFound(err), "a redelivery inserts nothing: %v", err)

	// Concurrent inserts into one conversation, duplicates among them.
	ids := make([]uuid.UUID, 10)
	for i := range ids {
		ids[i] = uuid.New()
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := insert(a, ids[i%10])
			if err != nil && !db.IsNotFound(err) {
				t.Errorf("concurrent insert: %v", err)
			}
		}()
	}
	wg.Wait()

	// A nudge batch: two messages into A's conversation, one into B's.
	err = s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		return q.InsertNudgeMessages(ctx, db.InsertNudgeMessagesParams{CreatorID: a.creator, Ids: []uuid.UUID{uuid.New(), uuid.New()},
			ConversationIds: []uuid.UUID{a.conversation, a.conversation}, Bodies: []string{"n1", "n2"}, Channels: []string{"widget", "widget"},
			Templates: []json.RawMessage{json.RawMessage("null"), json.RawMessage("null")}})
	})
	require.NoError(t, err)
	m, err = insert(a, uuid.New())
	require.NoError(t, err)
	require.EqualValues(t, 19, m.Seq, "1 + 4 + 1 + 10 + 2 messages before it")

	var seqs []int64
	err = s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		ms, err := q.MessagesAfter(ctx, db.MessagesAfterParams{ConversationID: a.conversation, Seq: 0, Limit: 100})
		for _, m := range ms {
			seqs = append(seqs, m.Seq)
		}
		return err
	})
	require.NoError(t, err)
	want := make([]int64, 19)
	for i := range want {
		want[i] = int64(i + 1)
	}
	require.Equal(t, want, seqs)

	// Another creator cannot number (nor store) a message in A's conversation.
	err = s.InTenant(ctx, b.creator, func(q *db.Queries) error {
		_, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: b.creator, ConversationID: a.conversation,
			Role: "user", Body: "x", Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"})
		return err
	})
	require.Error(t, err)
}
