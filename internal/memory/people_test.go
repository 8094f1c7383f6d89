package memory_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/people"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestWorkerLinkedPerson: once the app and a WhatsApp chat are linked into one person
// (internal/people), what the person tells the coach on WhatsApp is extracted into the profile
// the app reads, from the messages of both conversations; unlinked, the chat's messages no
// longer reach the app's profile.
func TestWorkerLinkedPerson(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	app := newPerson(t, s)
	wa := person{creator: app.creator, endUser: uuid.New(), conv: uuid.New()}
	require.NoError(t, s.InTenant(ctx, app.creator, func(q *db.Queries) error {
		if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: wa.endUser, CreatorID: wa.creator, Channel: "whatsapp", ExternalID: "wa-1"}); err != nil {
			return err
		}
		if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: wa.conv, CreatorID: wa.creator, EndUserID: wa.endUser, Channel: "whatsapp"}); err != nil {
			return err
		}
		a, err := q.GetEndUser(ctx, app.endUser)
		if err != nil {
			return err
		}
		w, err := q.GetEndUser(ctx, wa.endUser)
		if err != nil {
			return err
		}
		_, err = people.Link(ctx, q, a, w, time.Now())
		return err
	}))
	x, srv := extractor(t, s, ollamatest.Options{})
	b := runWorker(t, &memory.Worker{Extractor: x, Every: 40, Idle: time.Second})

	m1 := app.write(t, s, "user", "I prefer short workouts before work.")
	m2 := wa.write(t, s, "user", "Hi coach. My goal is to run a 10k in spring.")
	wa.request(t, b, "memory:"+m1.String(), m1)
	wa.request(t, b, "memory:"+m2.String(), m2)
	settled(t, b)
	got := app.profile(t, s)
	require.Equal(t, []string{"run a 10k in spring"}, got.Goals, "learned on WhatsApp, in the app's profile")
	require.Equal(t, []string{"short workouts before work"}, got.Preferences, "one extraction reads both conversations")
	require.Equal(t, got, wa.profile(t, s))
	require.EqualValues(t, 1, srv.Counts().Chat)

	require.NoError(t, s.InTenant(ctx, app.creator, func(q *db.Queries) error {
		_, err := people.Unlink(ctx, q, wa.endUser)
		return err
	}))
	m3 := wa.write(t, s, "user", "My goal is to sleep eight hours.")
	wa.request(t, b, "memory:"+m3.String(), m3)
	settled(t, b)
	require.Equal(t, []string{"run a 10k in spring"}, app.profile(t, s).Goals, "the chat's new message is its own")
	require.Contains(t, wa.profile(t, s).Goals, "sleep eight hours")
	raw, _ := json.Marshal(app.profile(t, s))
	require.NotContains(t, string(raw), "sleep")
}
