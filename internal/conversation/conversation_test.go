package conversation_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/conversation"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newConversation makes a creator (its own tenant) with one widget conversation.
func newConversation(t *testing.T, s *db.Store) (creator, conv uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	creator, conv = uuid.New(), uuid.New()
	endUser := uuid.New()
	require.NoError(t, s.InTenant(ctx, creator, func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: creator, Name: "Coach", Email: creator.String() + "@example.com",
			WidgetKey: "wk_" + creator.String(), WidgetSecret: "s", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: endUser, CreatorID: creator, Channel: "widget", ExternalID: "anon"}); err != nil {
			return err
		}
		_, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: conv, CreatorID: creator, EndUserID: endUser, Channel: "widget"})
		return err
	}))
	return creator, conv
}

func TestTakeoverAndCreatorMessages(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	creator, id := newConversation(t, s)
	in := func(f func(q *db.Queries) error) error { return s.InTenant(ctx, creator, f) }

	// Writing in a conversation the bot owns takes it over; a second message does not again.
	for i, wantTook := range []bool{true, false} {
		require.NoError(t, in(func(q *db.Queries) error {
			conv, m, took, err := conversation.AddCreatorMessage(ctx, q, creator, id, uuid.New(), "Hello")
			require.NoError(t, err)
			require.Equal(t, wantTook, took, "message %d", i)
			require.Equal(t, conversation.Human, conv.Status)
			require.Equal(t, "creator", m.Role)
			require.Equal(t, "queued", m.Status)
			return nil
		}))
	}
	require.NoError(t, in(func(q *db.Queries) error {
		conv, err := conversation.SetOwner(ctx, q, id, conversation.Bot)
		require.Equal(t, conversation.Bot, conv.Status)
		return err
	}))
	require.NoError(t, in(func(q *db.Queries) error {
		_, err := q.SetConversationStatus(ctx, db.SetConversationStatusParams{ID: id, Status: conversation.Closed})
		return err
	}))
	// A closed conversation changes no more.
	err := in(func(q *db.Queries) error {
		_, err := conversation.SetOwner(ctx, q, id, conversation.Human)
		return err
	})
	require.True(t, errors.Is(err, conversation.ErrClosed), "%v", err)
	err = in(func(q *db.Queries) error {
		_, _, _, err := conversation.AddCreatorMessage(ctx, q, creator, id, uuid.New(), "Hello")
		return err
	})
	require.True(t, errors.Is(err, conversation.ErrClosed), "%v", err)
	// Another creator's conversation is not found.
	other, _ := newConversation(t, s)
	err = s.InTenant(ctx, other, func(q *db.Queries) error {
		_, err := conversation.SetOwner(ctx, q, id, conversation.Human)
		return err
	})
	require.True(t, db.IsNotFound(err), "%v", err)
}
