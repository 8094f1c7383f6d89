package nudge

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
)

// Program tests run the scheduler on the test's fake clock: not parallel (see rig_test.go).

// setEnrollment pauses or resumes one enrollment as the creator API does.
func (r *rig) setEnrollment(id uuid.UUID, action string) {
	r.t.Helper()
	ctx := context.Background()
	now := r.clk.Now()
	r.tx(func(q *db.Queries) error {
		cur, err := q.LockEnrollment(ctx, id)
		if err != nil {
			return err
		}
		switch action {
		case "pause":
			_, err = q.PauseEnrollment(ctx, db.PauseEnrollmentParams{ID: id, Now: now, Entry: proactive.Entry(int(cur.NextStep), "paused_by_creator", now)})
		case "resume":
			_, err = proactive.ResumeEnrollment(ctx, q, cur, now, "resumed_by_creator")
		}
		return err
	})
}

// setProgram pauses or resumes a program as the creator API does.
func (r *rig) setProgram(id uuid.UUID, action string) {
	r.t.Helper()
	ctx := context.Background()
	now := r.clk.Now()
	r.tx(func(q *db.Queries) error {
		p, err := q.LockProgram(ctx, id)
		if err != nil {
			return err
		}
		switch action {
		case "pause":
			_, err = proactive.PauseProgram(ctx, q, id, now)
		case "resume":
			_, err = proactive.ResumeProgram(ctx, q, p, now)
		}
		return err
	})
}

// TestProgramBranchOnReply runs a four-week drip program over simulated weeks. Two people are
// enrolled; one replies after the week-one check-in. The reminder (only_if_no_reply) goes only
// to the silent one; at week three the reply pauses the other's enrollment (on_reply: pause)
// while the silent one gets week three and completes; nothing more comes weeks later.
func TestProgramBranchOnReply(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	replier, silent := r.person("Person One", "UTC"), r.person("Person Two", "UTC")
	prog := r.program(
		proactive.Step{Day: 0, Content: text("Welcome {{first_name}}")},
		proactive.Step{Day: 7, Content: text("How was week one?")},
		proactive.Step{Day: 14, Content: text("A gentle reminder"), OnlyIfNoReply: true},
		proactive.Step{Day: 21, Content: text("Week three"), OnReply: "pause"},
	)
	er, es := r.enroll(prog, replier), r.enroll(prog, silent)
	w := r.worker()
	r.start(w)
	day := func(d int) time.Time { return t0.Add(time.Duration(d)*24*time.Hour + time.Minute) }

	r.pass(w, t0)
	require.Equal(t, []string{"Welcome Person"}, r.bodies(replier))
	require.Equal(t, []string{"Welcome Person"}, r.bodies(silent))
	r.pass(w, day(6))
	require.Len(t, r.bodies(silent), 1, "week one not due yet")
	r.pass(w, day(7))
	require.Equal(t, []string{"Welcome Person", "How was week one?"}, r.bodies(replier))
	require.Len(t, r.bodies(silent), 2)

	r.reply(replier, t0.Add(8*24*time.Hour))
	r.pass(w, day(14))
	require.Equal(t, []string{"Welcome Person", "How was week one?", "A gentle reminder"}, r.bodies(silent))
	require.Len(t, r.bodies(replier), 2, "no reminder to someone who replied")
	require.EqualValues(t, 3, r.enrollment(er).NextStep, "the reminder skipped for the replier")

	r.pass(w, day(21))
	require.Equal(t, "paused", r.enrollment(er).Status, "the reply pauses the enrollment")
	require.Equal(t, "completed", r.enrollment(es).Status, "the silent one completes")

	r.pass(w, day(35)) // weeks later: nothing more for either
	require.Equal(t, []string{"Welcome Person", "How was week one?"}, r.bodies(replier))
	require.Equal(t, []string{"Welcome Person", "How was week one?", "A gentle reminder", "Week three"}, r.bodies(silent))
}

// TestProgramLifecycle runs a program over simulated weeks: a reply branches one person
// forward past two steps (on_reply goto), the creator pauses and resumes one enrollment (its
// remaining steps shift by the pause), pausing the program stops everyone until it is resumed
// (their clocks move on by the pause), a step due in quiet hours is held, held again by the
// program's pause when the quiet hours end, and sent with its own text on the resume.
func TestProgramLifecycle(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 22*60, 7*60, 5, 10) // quiet 22:00-07:00
	replier, silent, pauser := r.person("Rae", "UTC", "p"), r.person("Sil", "UTC", "p"), r.person("Pat", "UTC", "p")
	require.Error(t, proactive.ValidateSteps([]proactive.Step{{Day: 0, Content: text("a")}, {Day: 1, Content: text("b"), OnReply: "goto:0"}}),
		"a branch backwards is refused")
	prog := r.program(
		proactive.Step{Day: 0, Content: text("Welcome")},
		proactive.Step{Day: 7, Content: text("How was week one?")},
		proactive.Step{Day: 10, Content: text("Still there? An easier plan"), OnReply: "goto:4"},
		proactive.Step{Day: 12, Content: text("Easier plan, part two")},
		proactive.Step{Day: 14, Content: text("Next level")},
		proactive.Step{Day: 21, At: "06:30", Content: text("Early check-in")},
	)
	enrollment := map[uuid.UUID]uuid.UUID{}
	for _, eu := range []uuid.UUID{replier, silent, pauser} {
		enrollment[eu] = r.enroll(prog, eu)
	}
	at := func(d int, clock time.Duration) time.Time {
		return t0.Truncate(24*time.Hour).AddDate(0, 0, d).Add(clock)
	}
	nextAt := func(eu uuid.UUID) time.Time { return r.enrollment(enrollment[eu]).NextAt.UTC() }
	w := r.worker()
	r.start(w)

	r.pass(w, t0)
	for _, eu := range []uuid.UUID{replier, silent, pauser} {
		require.Equal(t, []string{"Welcome"}, r.bodies(eu))
	}
	r.pass(w, at(7, 10*time.Hour+time.Minute))
	for _, eu := range []uuid.UUID{replier, silent, pauser} {
		require.Equal(t, []string{"Welcome", "How was week one?"}, r.bodies(eu))
	}
	// Day 8: Rae replies; Pat's enrollment is paused.
	r.reply(replier, at(8, 12*time.Hour))
	r.clk.Set(at(8, 13*time.Hour))
	r.setEnrollment(enrollment[pauser], "pause")

	// Day 10: Sil gets the easier plan; Rae's reply branches to "Next level" at its own day 14.
	r.pass(w, at(10, 10*time.Hour+time.Minute))
	require.Equal(t, []string{"Welcome", "How was week one?", "Still there? An easier plan"}, r.bodies(silent))
	require.Equal(t, at(14, 10*time.Hour), nextAt(replier), "Rae branched to step 4 at day 14")
	require.EqualValues(t, 4, r.enrollment(enrollment[replier]).NextStep)
	require.Equal(t, []string{"Welcome", "How was week one?"}, r.bodies(replier))
	require.Equal(t, []string{"Welcome", "How was week one?"}, r.bodies(pauser))

	// Day 12, 13:00: Pat resumed after four days paused: step 2 (day 10) now falls on day 14.
	r.clk.Set(at(12, 13*time.Hour))
	r.setEnrollment(enrollment[pauser], "resume")
	require.Equal(t, at(14, 10*time.Hour), nextAt(pauser), "the timeline moved on by the pause")
	r.pass(w, at(12, 13*time.Hour+time.Minute)) // Sil's day 12 step was due at 10:00
	require.Equal(t, []string{"Welcome", "How was week one?", "Still there? An easier plan", "Easier plan, part two"}, r.bodies(silent))
	require.Len(t, r.bodies(pauser), 2)

	r.pass(w, at(14, 10*time.Hour+time.Minute))
	require.Equal(t, []string{"Welcome", "How was week one?", "Next level"}, r.bodies(replier))
	require.Equal(t, []string{"Welcome", "How was week one?", "Still there? An easier plan", "Easier plan, part two", "Next level"}, r.bodies(silent))
	require.Equal(t, []string{"Welcome", "How was week one?", "Still there? An easier plan"}, r.bodies(pauser))

	// The program is paused for a day: nothing is sent, then everyone's clock moves on a day.
	r.clk.Set(at(20, 12*time.Hour))
	r.setProgram(prog, "pause")
	r.pass(w, at(21, 12*time.Hour))
	require.Equal(t, []string{"Welcome", "How was week one?", "Next level"}, r.bodies(replier))
	r.setProgram(prog, "resume")
	require.Equal(t, at(22, 6*time.Hour+30*time.Minute), nextAt(replier), "day 21 at 06:30 moved a day on")

	// Day 22, 06:31: in quiet hours (until 07:00): held.
	r.pass(w, at(22, 6*time.Hour+31*time.Minute))
	require.Equal(t, 1, r.count(`SELECT count(*) FROM nudge_deliveries WHERE end_user_id = $1 AND status = 'held' AND reason = 'quiet_hours' AND step = 5`, replier),
		"the early step held by quiet hours")
	require.Len(t, r.bodies(replier), 3)
	// The program is paused while the step is held: when quiet hours end it stays held, for the
	// pause now, and goes out when the program is resumed.
	r.clk.Set(at(22, 6*time.Hour+40*time.Minute))
	r.setProgram(prog, "pause")
	r.pass(w, at(22, 7*time.Hour+time.Minute))
	require.Equal(t, 1, r.count(`SELECT count(*) FROM nudge_deliveries WHERE end_user_id = $1 AND status = 'held' AND reason = 'paused' AND step = 5`, replier),
		"held again, by the program's pause")
	require.Len(t, r.bodies(replier), 3)
	r.clk.Set(at(22, 8*time.Hour))
	r.setProgram(prog, "resume")
	r.pass(w, at(22, 8*time.Hour))
	require.Equal(t, []string{"Welcome", "How was week one?", "Next level", "Early check-in"}, r.bodies(replier))
	require.Equal(t, []string{"Welcome", "How was week one?", "Still there? An easier plan", "Easier plan, part two", "Next level", "Early check-in"},
		r.bodies(silent))
	require.Equal(t, "completed", r.enrollment(enrollment[replier]).Status)
}

// TestProgramStoppedAndEdited: a step whose program was archived after it was published is
// skipped (cancelled); a step moved later by an edit is rescheduled, not sent early; a program's
// first step is sent even in a live conversation (the person asked for it).
func TestProgramStoppedAndEdited(t *testing.T) {
	t0 := time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	ana, ben := r.person("Ana", "UTC"), r.person("Ben", "UTC")
	r.reply(ana, t0.Add(-time.Minute)) // Ana is talking with the coach right now
	prog := r.program(proactive.Step{Day: 0, Content: text("Welcome")}, proactive.Step{Day: 1, Content: text("Day one")})
	ea, eb := r.enroll(prog, ana), r.enroll(prog, ben)
	w := r.worker()
	r.start(w)

	r.pass(w, t0)
	require.Equal(t, []string{"Welcome"}, r.bodies(ana), "awaited: no live-conversation hold for the first step")
	require.Equal(t, []string{"Welcome"}, r.bodies(ben))

	// Day one moved to day three: due then, not before.
	steps, _ := json.Marshal([]proactive.Step{{Day: 0, Content: text("Welcome")}, {Day: 3, Content: text("Day three")}})
	r.tx(func(q *db.Queries) error {
		_, err := q.UpdateProgram(context.Background(), db.UpdateProgramParams{ID: prog, Name: "program", Steps: steps})
		return err
	})
	r.pass(w, t0.Add(25*time.Hour))
	require.Equal(t, []string{"Welcome"}, r.bodies(ana))
	require.Equal(t, t0.Add(72*time.Hour), r.enrollment(ea).NextAt.UTC(), "rescheduled to the edited day")
	require.Equal(t, t0.Add(72*time.Hour), r.enrollment(eb).NextAt.UTC())

	// Stopped after the step was published: Ben's enrollment cancelled, then the program archived.
	step1 := func(e, eu uuid.UUID) {
		t.Helper()
		require.NoError(t, w.Submit(context.Background(), r.c, proactive.RecipientEvent{OccurrenceID: proactive.ProgramOccurrence(e, 1),
			EnrollmentID: e, Step: 1, EndUserID: eu, ScheduledAt: t0.Add(72 * time.Hour)}, nil))
	}
	r.clk.Set(t0.Add(72*time.Hour + time.Minute))
	r.tx(func(q *db.Queries) error {
		_, err := q.CancelEnrollment(context.Background(), db.CancelEnrollmentParams{ID: eb, Entry: proactive.Entry(1, "cancelled_by_creator", r.clk.Now())})
		return err
	})
	step1(eb, ben)
	r.tx(func(q *db.Queries) error {
		_, err := q.SetProgramStatus(context.Background(), db.SetProgramStatusParams{ID: prog, Status: "archived"})
		return err
	})
	step1(ea, ana)
	for _, e := range []uuid.UUID{ea, eb} {
		require.Equal(t, 1, r.count(`SELECT count(*) FROM nudge_deliveries WHERE enrollment_id = $1 AND step = 1 AND status = 'skipped' AND reason = 'cancelled'`, e))
	}
	r.pass(w, t0.Add(73*time.Hour))
	require.Equal(t, []string{"Welcome"}, r.bodies(ana), "nothing from an archived program")
	require.Equal(t, []string{"Welcome"}, r.bodies(ben), "nothing from a cancelled enrollment")
	require.Equal(t, "active", r.enrollment(ea).Status, "an archived program's enrollment is left as it is")
}
