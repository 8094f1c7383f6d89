package nudge

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/people"
	"github.com/coachwire/coachwire/internal/proactive"
)

// link makes the end users a and b one person (internal/people), as a redeemed code does.
func (r *rig) link(a, b uuid.UUID) {
	r.t.Helper()
	ctx := context.Background()
	r.tx(func(q *db.Queries) error {
		ea, err := q.GetEndUser(ctx, a)
		if err != nil {
			return err
		}
		eb, err := q.GetEndUser(ctx, b)
		if err != nil {
			return err
		}
		_, err = people.Link(ctx, q, ea, eb, r.clk.Now())
		return err
	})
}

func (r *rig) optedOut(eu uuid.UUID) bool {
	r.t.Helper()
	return r.count(`SELECT count(*) FROM end_users WHERE id = $1 AND opted_out_at IS NOT NULL`, eu) == 1
}

// TestLinkedPeopleShareCapsAndOptOut: two end users linked into one person (the app and a
// chat) count against one daily cap: the campaign the second identity gets after the first
// one's is capped, while an unlinked person with the same history is not. STOP on one
// identity opts the person out on both (the app's proactive messages stop) and START opts
// both back in. After unlinking, caps and opt-outs are each identity's own again.
func TestLinkedPeopleShareCapsAndOptOut(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 0, 0, 1, 7)
	app, chat := r.person("Ana", "", "c"), r.person("Ana", "", "c")
	solo, soloChat := r.person("Ben", "", "c"), r.person("Ben", "", "c")
	r.link(app, chat)
	w := r.worker()
	c1 := r.campaign(proactive.Audience{Tag: "c"}, text("One"), once(t0))
	c2 := r.campaign(proactive.Audience{Tag: "c"}, text("Two"), once(t0))

	r.submit(w, c1, uuid.New(), app, t0)
	r.submit(w, c2, uuid.New(), chat, t0)
	r.submit(w, c1, uuid.New(), solo, t0)
	r.submit(w, c2, uuid.New(), soloChat, t0)
	require.Equal(t, "sent//text", r.decision(c1, app))
	require.Equal(t, "skipped/capped/", r.decision(c2, chat), "the person had today's message on their other channel")
	require.Equal(t, "sent//text", r.decision(c1, solo))
	require.Equal(t, "sent//text", r.decision(c2, soloChat), "not linked: two people, two caps")

	// STOP in the chat stops the app's proactive messages too; START resumes both.
	r.tx(func(q *db.Queries) error {
		_, err := q.SetEndUserOptOut(context.Background(), db.SetEndUserOptOutParams{ID: chat, OptedOut: true})
		return err
	})
	require.True(t, r.optedOut(app), "opted out on every linked channel")
	require.False(t, r.optedOut(solo))
	r.clk.Set(t0.AddDate(0, 0, 1))
	c3 := r.campaign(proactive.Audience{Tag: "c"}, text("Three"), once(r.clk.Now()))
	r.submit(w, c3, uuid.New(), app, r.clk.Now())
	require.Equal(t, "skipped/opted_out/", r.decision(c3, app))
	r.tx(func(q *db.Queries) error {
		_, err := q.SetEndUserOptOut(context.Background(), db.SetEndUserOptOutParams{ID: app, OptedOut: false})
		return err
	})
	require.False(t, r.optedOut(chat), "START on one channel opts the person back in everywhere")

	// Unlinked: separate caps and consent again.
	r.tx(func(q *db.Queries) error { _, err := people.Unlink(context.Background(), q, chat); return err })
	r.submit(w, c3, uuid.New(), chat, r.clk.Now())
	require.Equal(t, "sent//text", r.decision(c3, chat))
	c4 := r.campaign(proactive.Audience{Tag: "c"}, text("Four"), once(r.clk.Now()))
	r.submit(w, c4, uuid.New(), app, r.clk.Now())
	require.Equal(t, "sent//text", r.decision(c4, app), "the chat's send no longer counts for the app")
	r.tx(func(q *db.Queries) error {
		_, err := q.SetEndUserOptOut(context.Background(), db.SetEndUserOptOutParams{ID: chat, OptedOut: true})
		return err
	})
	require.False(t, r.optedOut(app), "STOP after unlinking is the chat's alone")
}

// TestLinkedPeopleOneEnrollment: a person enrolled through one identity is not enrolled again
// through the other, an enrollment the app had in the same program is cancelled when linking,
// and the program's steps go to the identity of the person seen last.
func TestLinkedPeopleOneEnrollment(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	chat, app := r.person("Ana", "UTC"), r.person("Ana", "UTC")
	prog := r.program(proactive.Step{Day: 0, Content: text("Welcome")}, proactive.Step{Day: 1, Content: text("Day one")})
	e := r.enroll(prog, chat)
	dup := r.enroll(prog, app) // before linking: a second person
	require.NotEqual(t, e, dup)
	r.link(app, chat)
	require.Equal(t, "cancelled", r.enrollment(dup).Status, "one enrollment per person: the chat's is kept")
	require.Equal(t, e, r.enroll(prog, app), "enrolling the app again returns the person's enrollment")
	require.Equal(t, 1, r.count(`SELECT count(*) FROM program_enrollments WHERE program_id = $1 AND status = 'active'`, prog))

	// The person uses the app now: the next step goes there.
	r.exec(`UPDATE end_users SET last_seen_at = $2 WHERE id = $1`, app, t0.Add(time.Hour))
	r.exec(`UPDATE end_users SET last_seen_at = $2 WHERE id = $1`, chat, t0.Add(-time.Hour))
	w := r.worker()
	require.NoError(t, w.Submit(context.Background(), r.c, proactive.RecipientEvent{OccurrenceID: proactive.ProgramOccurrence(e, 0),
		EnrollmentID: e, Step: 0, EndUserID: chat, ScheduledAt: t0}, nil))
	require.Equal(t, []string{"Welcome"}, r.bodies(app), "sent on the channel the person used last")
	require.Empty(t, r.bodies(chat))
	ob := r.outbound()
	require.Len(t, ob, 1)
	require.Equal(t, app, ob[0].Data.EndUserID)
}

// TestLinkedPeopleOneCampaignMessage: a campaign occurrence whose audience holds two end users
// linked into one person reaches the person once (the other is skipped as same_person),
// whether both are decided in one batch or one after the other, and a redelivery changes
// nothing; an unlinked person in the same audience gets theirs.
func TestLinkedPeopleOneCampaignMessage(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 0, 0, 5, 20)
	app, chat, ben := r.person("Ana", "", "c"), r.person("Ana", "", "c"), r.person("Ben", "", "c")
	r.link(app, chat)
	w := r.worker()
	c := r.campaign(proactive.Audience{Tag: "c"}, text("Hello"), once(t0))

	occ := uuid.New()
	r.submitAll(w, c, occ, t0, app, chat, ben)
	got := []string{r.decision(c, app), r.decision(c, chat)}
	require.ElementsMatch(t, []string{"sent//text", "skipped/same_person/"}, got, "one message for the person")
	require.Equal(t, "sent//text", r.decision(c, ben))
	r.submitAll(w, c, occ, t0, app, chat)
	require.ElementsMatch(t, got, []string{r.decision(c, app), r.decision(c, chat)}, "a redelivery changes nothing")
	require.Len(t, append(r.bodies(app), r.bodies(chat)...), 1)

	r.clk.Set(t0.Add(2 * time.Hour))
	occ2 := uuid.New()
	r.submit(w, c, occ2, chat, r.clk.Now())
	r.submit(w, c, occ2, app, r.clk.Now())
	require.Equal(t, 2, r.count(`SELECT count(*) FROM nudge_deliveries WHERE occurrence_id = $1`, occ2))
	require.Equal(t, 1, r.count(`SELECT count(*) FROM nudge_deliveries WHERE occurrence_id = $1 AND status = 'sent' AND end_user_id = $2`, occ2, chat))
	require.Equal(t, 1, r.count(`SELECT count(*) FROM nudge_deliveries WHERE occurrence_id = $1 AND reason = 'same_person' AND end_user_id = $2`, occ2, app))
}
