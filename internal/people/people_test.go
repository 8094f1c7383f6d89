package people_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/people"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type tenant struct {
	t *testing.T
	s *db.Store
	c uuid.UUID
}

func newTenant(t *testing.T, s *db.Store) tenant {
	t.Helper()
	c := uuid.New()
	x := tenant{t: t, s: s, c: c}
	x.tx(func(q *db.Queries) error {
		_, err := q.InsertCreator(context.Background(), db.InsertCreatorParams{ID: c, Name: "Coach", Email: c.String() + "@example.com",
			WidgetKey: "wk-" + c.String(), WidgetSecret: "ws", AllowedOrigins: []string{}})
		return err
	})
	return x
}

func (x tenant) tx(fn func(q *db.Queries) error) {
	x.t.Helper()
	require.NoError(x.t, x.s.InTenant(context.Background(), x.c, fn))
}

func (x tenant) endUser(channel string) db.EndUser {
	x.t.Helper()
	var eu db.EndUser
	x.tx(func(q *db.Queries) (err error) {
		eu, err = q.UpsertEndUser(context.Background(), db.UpsertEndUserParams{ID: uuid.New(), CreatorID: x.c, Channel: channel, ExternalID: uuid.NewString()})
		return err
	})
	return eu
}

func (x tenant) get(id uuid.UUID) db.EndUser {
	x.t.Helper()
	var eu db.EndUser
	x.tx(func(q *db.Queries) (err error) { eu, err = q.GetEndUser(context.Background(), id); return err })
	return eu
}

func (x tenant) link(a, b db.EndUser) people.Linked {
	x.t.Helper()
	var l people.Linked
	x.tx(func(q *db.Queries) (err error) {
		l, err = people.Link(context.Background(), q, a, b, time.Now())
		return err
	})
	return l
}

func (x tenant) profile(id uuid.UUID) memory.Profile {
	x.t.Helper()
	var p memory.Profile
	x.tx(func(q *db.Queries) error {
		m, err := q.GetMemory(context.Background(), id)
		if db.IsNotFound(err) {
			return nil
		}
		p = memory.Parse(m.Profile)
		return err
	})
	return p
}

// TestPersonLifecycle: a new end user is its own person; linking twice changes nothing the
// second time; deleting the end user that names a person leaves the others each their own
// person (the database keeps person_id valid); a person never spans two creators (the
// composite key refuses it whatever the code does).
func TestPersonLifecycle(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	x := newTenant(t, s)
	app, wa, tg := x.endUser("app"), x.endUser("whatsapp"), x.endUser("telegram")
	require.Equal(t, app.ID, app.PersonID, "its own person")

	x.tx(func(q *db.Queries) error {
		_, err := q.PutMemory(context.Background(), db.PutMemoryParams{EndUserID: app.ID, CreatorID: x.c, Profile: json.RawMessage(`{"goals":["Sleep 8 hours"],"facts":["Has a dog"]}`)})
		if err != nil {
			return err
		}
		_, err = q.PutMemory(context.Background(), db.PutMemoryParams{EndUserID: wa.ID, CreatorID: x.c, Profile: json.RawMessage(`{"facts":["has a dog","Lives in Porto"]}`)})
		return err
	})
	l := x.link(app, wa)
	require.False(t, l.Already)
	require.Equal(t, wa.ID, x.get(app.ID).PersonID, "the app joins the chat's person")
	require.True(t, x.link(app, wa).Already)
	x.link(x.get(tg.ID), x.get(app.ID))
	require.Equal(t, wa.ID, x.get(tg.ID).PersonID)
	p := x.profile(tg.ID)
	require.Equal(t, []string{"Sleep 8 hours"}, p.Goals)
	require.Equal(t, []string{"has a dog", "Lives in Porto"}, p.Facts, "merged without repeats")
	x.tx(func(q *db.Queries) error {
		_, err := q.MemoryRow(context.Background(), app.ID)
		require.True(t, db.IsNotFound(err), "the absorbed profile row is gone")
		return nil
	})

	// The end user naming the person is deleted: the others are their own persons again.
	x.tx(func(q *db.Queries) error { _, err := q.DeleteEndUser(context.Background(), wa.ID); return err })
	require.Equal(t, app.ID, x.get(app.ID).PersonID)
	require.Equal(t, tg.ID, x.get(tg.ID).PersonID)

	// Across creators: refused by the database, and by Link.
	y := newTenant(t, s)
	other := y.endUser("whatsapp")
	err := s.InTenant(context.Background(), x.c, func(q *db.Queries) error {
		return q.MovePerson(context.Background(), db.MovePersonParams{ToPerson: other.ID, FromPerson: app.ID})
	})
	require.Error(t, err, "a person of another creator")
	require.True(t, db.IsForeignKeyViolation(err), "%v", err)
	err = s.InTenant(context.Background(), x.c, func(q *db.Queries) error {
		_, err := people.Link(context.Background(), q, x.get(app.ID), other, time.Now())
		return err
	})
	require.Error(t, err)
}

// TestCodes: a code is stored hashed, replaces the unused ones of its end user, and at most
// CodesPerHour are issued in an hour.
func TestCodes(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	x := newTenant(t, s)
	app, wa := x.endUser("app"), x.endUser("whatsapp")
	now := time.Now()
	var first, second people.Code
	x.tx(func(q *db.Queries) (err error) {
		if first, err = people.NewCode(context.Background(), q, x.c, app.ID, now); err != nil {
			return err
		}
		second, err = people.NewCode(context.Background(), q, x.c, app.ID, now)
		return err
	})
	require.NotEqual(t, first.Code, second.Code)
	x.tx(func(q *db.Queries) error {
		_, err := q.LockLinkCode(context.Background(), []byte(second.Code))
		require.True(t, db.IsNotFound(err), "not stored in clear: %v", err)
		_, err = people.Redeem(context.Background(), q, first.Code, wa, now)
		require.ErrorIs(t, err, people.ErrExpiredCode, "replaced by the newer code")
		_, err = people.Redeem(context.Background(), q, " "+second.Code[:4]+"-"+second.Code[4:]+" ", wa, now)
		return err
	})
	require.Equal(t, wa.ID, x.get(app.ID).PersonID)
	x.tx(func(q *db.Queries) error {
		for range people.CodesPerHour - 2 {
			if _, err := people.NewCode(context.Background(), q, x.c, app.ID, now); err != nil {
				return err
			}
		}
		_, err := people.NewCode(context.Background(), q, x.c, app.ID, now)
		require.ErrorIs(t, err, people.ErrTooManyCodes)
		return nil
	})
}
