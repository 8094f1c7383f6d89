package nudge

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/clock"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
	"github.com/coachwire/coachwire/internal/testenv"
)

// The tests of this package run the nudge worker on the package's real PostgreSQL and NATS
// JetStream, each in its own creator (tenant), on a fake clock.
//
// The scheduler's claims scan every creator (Worker.RunOnce), so a test that runs the
// scheduler with its own fake clock would claim another test's due work: those tests are not
// parallel, and each cancels what it leaves pending when it ends. Tests that only decide
// (Worker.Submit) are parallel. Recipient consumers are per creator (durable nudge-<creator>
// on the creator's subject), so a test only ever decides its own recipients.

func TestMain(m *testing.M) { testenv.Main(m) }

// platform is the operator's defaults (config.Nudge.WithDefaults).
var platform = proactive.Platform{CeilingDay: 3, CeilingWeek: 10, LiveWindow: 10 * time.Minute, MaxHold: 48 * time.Hour}

// rig is one creator on the package's Postgres and NATS with a fake clock.
type rig struct {
	t     *testing.T
	store *db.Store
	b     *bus.Bus
	clk   *clock.Fake
	c     uuid.UUID
}

func newRig(t *testing.T, t0 time.Time) *rig {
	t.Helper()
	r := &rig{t: t, store: testenv.Store(t), b: testenv.Bus(t), clk: clock.NewFake(t0), c: uuid.New()}
	ctx := context.Background()
	r.tx(func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: r.c, Name: "Coach", Email: r.c.String() + "@example.com",
			WidgetKey: "wk-" + r.c.String(), WidgetSecret: "ws", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		_, err := q.SetCreatorPolicy(ctx, db.SetCreatorPolicyParams{ID: r.c, Timezone: "UTC", CapDay: 2, CapWeek: 7})
		return err
	})
	return r
}

// tx runs fn in the creator's tenant.
func (r *rig) tx(fn func(q *db.Queries) error) {
	r.t.Helper()
	require.NoError(r.t, r.store.InTenant(context.Background(), r.c, fn))
}

// sqlTx runs fn in a transaction of the application role inside the creator's tenant, for what
// no query of the application does (back-dating rows, a person's timezone) and for reading.
func (r *rig) sqlTx(fn func(tx pgx.Tx) error) {
	r.t.Helper()
	ctx := context.Background()
	tx, err := r.store.Pool().Begin(ctx)
	require.NoError(r.t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", r.c.String())
	require.NoError(r.t, err)
	require.NoError(r.t, fn(tx))
	require.NoError(r.t, tx.Commit(ctx))
}

func (r *rig) exec(sql string, args ...any) {
	r.t.Helper()
	r.sqlTx(func(tx pgx.Tx) error { _, err := tx.Exec(context.Background(), sql, args...); return err })
}

func (r *rig) count(sql string, args ...any) int {
	r.t.Helper()
	var n int
	r.sqlTx(func(tx pgx.Tx) error { return tx.QueryRow(context.Background(), sql, args...).Scan(&n) })
	return n
}

// policy sets the creator's send policy (quiet hours in minutes of the local day).
func (r *rig) policy(zone string, quietStart, quietEnd, capDay, capWeek int) {
	r.t.Helper()
	r.tx(func(q *db.Queries) error {
		_, err := q.SetCreatorPolicy(context.Background(), db.SetCreatorPolicyParams{ID: r.c, Timezone: zone,
			QuietStart: int16(quietStart), QuietEnd: int16(quietEnd), CapDay: int32(capDay), CapWeek: int32(capWeek)})
		return err
	})
}

// person inserts a widget end user named name in zone ("" for the creator's) with tags.
func (r *rig) person(name, zone string, tags ...string) uuid.UUID {
	r.t.Helper()
	ctx := context.Background()
	var id uuid.UUID
	r.tx(func(q *db.Queries) error {
		eu, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: uuid.New(), CreatorID: r.c, Channel: events.ChannelWidget,
			ExternalID: "ext-" + uuid.NewString(), DisplayName: name})
		if err != nil {
			return err
		}
		id = eu.ID
		if tags == nil {
			tags = []string{}
		}
		_, err = q.SetEndUserTags(ctx, db.SetEndUserTagsParams{ID: id, Tags: tags})
		return err
	})
	if zone != "" {
		r.exec(`UPDATE end_users SET timezone = $2 WHERE id = $1`, id, zone)
	}
	return id
}

// people inserts n widget end users tagged tag in one statement.
func (r *rig) people(n int, tag string) {
	r.t.Helper()
	r.exec(`INSERT INTO end_users (id, creator_id, channel, external_id, display_name, tags)
		SELECT gen_random_uuid(), $1, 'widget', 'seed-' || $3 || '-' || g, 'Person ' || g, ARRAY[$3]
		FROM generate_series(1, $2) g`, r.c, n, tag)
}

// reply records a message the person wrote at at (messages.created_at, set explicitly).
func (r *rig) reply(eu uuid.UUID, at time.Time) {
	r.t.Helper()
	r.exec(`INSERT INTO conversations (id, creator_id, end_user_id, channel) VALUES (gen_random_uuid(), $1, $2, 'widget')
		ON CONFLICT DO NOTHING`, r.c, eu)
	r.exec(`INSERT INTO messages (id, creator_id, conversation_id, role, body, channel, created_at)
		SELECT gen_random_uuid(), $1, c.id, 'user', 'Going well!', c.channel, $3 FROM conversations c
		WHERE c.end_user_id = $2 AND c.channel = 'widget'`, r.c, eu, at)
}

func text(s string) proactive.Content { return proactive.Content{Kind: proactive.ContentText, Text: s} }

// campaign creates a campaign and its first occurrence, as the creator API does.
func (r *rig) campaign(aud proactive.Audience, content proactive.Content, sched proactive.Schedule) uuid.UUID {
	r.t.Helper()
	ctx := context.Background()
	a, _ := json.Marshal(aud)
	c, _ := json.Marshal(content)
	s, _ := json.Marshal(sched)
	var id uuid.UUID
	r.tx(func(q *db.Queries) error {
		cp, err := q.InsertCampaign(ctx, db.InsertCampaignParams{ID: uuid.Must(uuid.NewV7()), CreatorID: r.c, Name: "campaign",
			Audience: a, Content: c, Schedule: s})
		if err != nil {
			return err
		}
		id = cp.ID
		return proactive.ScheduleNext(ctx, q, r.c, id, sched, r.clk.Now().Add(-time.Minute))
	})
	r.t.Cleanup(func() {
		// Nothing left for another test's scheduler pass: no pending occurrence, nobody held.
		r.setCampaign(id, "cancelled")
		r.exec(`UPDATE nudge_deliveries SET status = 'skipped', reason = 'cancelled', hold_until = NULL
			WHERE campaign_id = $1 AND status = 'held'`, id)
	})
	return id
}

func once(at time.Time) proactive.Schedule {
	at = at.UTC()
	return proactive.Schedule{Kind: proactive.ScheduleOnce, At: &at}
}

// setCampaign pauses, resumes or cancels a campaign the way the creator API does.
func (r *rig) setCampaign(id uuid.UUID, status string) {
	r.t.Helper()
	ctx := context.Background()
	now := r.clk.Now()
	r.tx(func(q *db.Queries) error {
		if _, err := q.SetCampaignStatus(ctx, db.SetCampaignStatusParams{ID: id, Status: status}); err != nil {
			return err
		}
		switch status {
		case "cancelled":
			if err := q.CancelOccurrences(ctx, id); err != nil {
				return err
			}
			return nil
		case "active":
			if _, err := q.ReleasePausedHolds(ctx, db.ReleasePausedHoldsParams{CampaignID: uuid.NullUUID{UUID: id, Valid: true}, Now: now}); err != nil {
				return err
			}
			return proactive.ScheduleFollowing(ctx, q, r.c, id, now)
		}
		return nil
	})
}

// editCampaign replaces content and schedule as the creator API's PATCH does.
func (r *rig) editCampaign(id uuid.UUID, aud proactive.Audience, content proactive.Content, sched proactive.Schedule) {
	r.t.Helper()
	ctx := context.Background()
	a, _ := json.Marshal(aud)
	c, _ := json.Marshal(content)
	s, _ := json.Marshal(sched)
	r.tx(func(q *db.Queries) error {
		if _, err := q.LockCampaign(ctx, id); err != nil {
			return err
		}
		if _, err := q.UpdateCampaign(ctx, db.UpdateCampaignParams{ID: id, Name: "edited", Audience: a, Content: c, Schedule: s}); err != nil {
			return err
		}
		if _, err := q.DeleteFutureOccurrences(ctx, id); err != nil {
			return err
		}
		return proactive.ScheduleNext(ctx, q, r.c, id, sched, r.clk.Now().Add(-time.Minute))
	})
}

// occurrences are the campaign's occurrences by scheduled time ("01-02T15:04") → status.
func (r *rig) occurrences(campaign uuid.UUID) map[string]string {
	r.t.Helper()
	out := map[string]string{}
	r.tx(func(q *db.Queries) error {
		occ, err := q.ListOccurrences(context.Background(), db.ListOccurrencesParams{CampaignID: campaign, MaxRows: 100})
		for _, o := range occ {
			out[o.ScheduledAt.UTC().Format("01-02T15:04")] = o.Status
		}
		return err
	})
	return out
}

// program creates an active program with steps.
func (r *rig) program(steps ...proactive.Step) uuid.UUID {
	r.t.Helper()
	require.NoError(r.t, proactive.ValidateSteps(steps))
	s, _ := json.Marshal(steps)
	var id uuid.UUID
	r.tx(func(q *db.Queries) error {
		p, err := q.InsertProgram(context.Background(), db.InsertProgramParams{ID: uuid.Must(uuid.NewV7()), CreatorID: r.c, Name: "program", Steps: s})
		id = p.ID
		return err
	})
	r.t.Cleanup(func() {
		r.tx(func(q *db.Queries) error {
			_, err := q.SetProgramStatus(context.Background(), db.SetProgramStatusParams{ID: id, Status: "archived"})
			return err
		})
		r.exec(`UPDATE program_enrollments SET status = 'cancelled' WHERE program_id = $1 AND status IN ('active', 'paused')`, id)
		r.exec(`UPDATE nudge_deliveries d SET status = 'skipped', reason = 'cancelled', hold_until = NULL FROM program_enrollments e
			WHERE d.enrollment_id = e.id AND e.program_id = $1 AND d.status = 'held'`, id)
	})
	return id
}

// enroll enrolls eu in program at the clock's time, as the creator API does.
func (r *rig) enroll(program, eu uuid.UUID) uuid.UUID {
	r.t.Helper()
	ctx := context.Background()
	var id uuid.UUID
	r.tx(func(q *db.Queries) error {
		p, err := q.GetProgram(ctx, program)
		if err != nil {
			return err
		}
		u, err := q.GetEndUser(ctx, eu)
		if err != nil {
			return err
		}
		e, err := proactive.Enroll(ctx, q, p, u, r.clk.Now())
		id = e.ID
		return err
	})
	return id
}

// enrollment is the enrollment's status, next step and next_at.
func (r *rig) enrollment(id uuid.UUID) db.ProgramEnrollment {
	r.t.Helper()
	var e db.ProgramEnrollment
	r.tx(func(q *db.Queries) (err error) { e, err = q.GetEnrollment(context.Background(), id); return err })
	return e
}

// bodies are the proactive messages stored for eu, oldest first.
func (r *rig) bodies(eu uuid.UUID) []string {
	r.t.Helper()
	out := []string{}
	r.sqlTx(func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT m.body FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE c.end_user_id = $1 AND m.role = 'assistant' ORDER BY m.seq`, eu)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		out = append(out, got...)
		return err
	})
	return out
}

// decision is eu's latest recorded decision for campaign as "status/reason/mode" ("" if none).
func (r *rig) decision(campaign, eu uuid.UUID) string {
	r.t.Helper()
	var s string
	r.sqlTx(func(tx pgx.Tx) error {
		err := tx.QueryRow(context.Background(), `SELECT status || '/' || reason || '/' || mode FROM nudge_deliveries
			WHERE campaign_id = $1 AND end_user_id = $2 ORDER BY decided_at DESC LIMIT 1`, campaign, eu).Scan(&s)
		if err == pgx.ErrNoRows {
			return nil
		}
		return err
	})
	return s
}

// worker is a nudge worker of the test's store and clock (no bus until started).
func (r *rig) worker(opts ...func(*Worker)) *Worker {
	w := &Worker{Store: r.store, Bus: r.b, Clock: r.clk, Log: testenv.Logger(r.t), Platform: platform,
		Tick: 20 * time.Millisecond, Page: 50, Lease: 5 * time.Second}
	for _, o := range opts {
		o(w)
	}
	return w
}

func (r *rig) durable() string { return "nudge-" + r.c.String() }

// start runs w as a replica: its own NATS connection and router, consuming the creator's
// recipient events on the creator's durable consumer (shared by the test's replicas). stop
// closes both (a replica gone, as far as JetStream can tell).
func (r *rig) start(w *Worker) (stop func()) {
	r.t.Helper()
	ctx := context.Background()
	b, err := bus.Connect(ctx, testenv.NATS(r.t), r.t.Name(), w.Log, bus.Options{})
	require.NoError(r.t, err)
	w.Bus = b
	router, err := bus.NewRouter(b, w.Log)
	require.NoError(r.t, err)
	require.NoError(r.t, w.register(ctx, router, r.durable(), events.NudgeSubject(r.c)))
	go func() { _ = router.Run(context.Background()) }()
	<-router.Running()
	var o sync.Once
	stop = func() { o.Do(func() { _ = router.Close(); b.Close() }) }
	r.t.Cleanup(stop)
	return stop
}

// drain waits until the creator's recipient consumer has handled (and acknowledged) every
// recipient event published so far: every decision is then recorded. It waits longer than the
// consumer's AckWait (60 s): events a stopped replica had fetched but not handled come back only
// after it.
func (r *rig) drain() {
	r.t.Helper()
	ctx := context.Background()
	testenv.Eventually(r.t, 2*time.Minute, func() bool {
		cons, err := r.b.JetStream().Consumer(ctx, "CW_NUDGE", r.durable())
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "the recipient consumer of %s to drain", r.c)
}

// pass moves the clock to at and runs scheduler passes of w until they change nothing more
// (three passes: expansion, a held decision's release, a program's completion), each followed
// by every decision it caused.
func (r *rig) pass(w *Worker, at time.Time) {
	r.t.Helper()
	r.clk.Set(at)
	for range 3 {
		require.NoError(r.t, w.RunOnce(context.Background()))
		r.drain()
	}
}

// published returns what was published on subject (stream's creator-scoped subject), decoded.
func published[T events.Event](t *testing.T, b *bus.Bus, stream, subject string) []events.Message[T] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := b.JetStream().Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	require.NoError(t, err)
	n := 0
	for _, k := range info.State.Subjects {
		n += int(k)
	}
	out := []events.Message[T]{}
	if n == 0 {
		return out
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	require.NoError(t, err)
	for len(out) < n {
		batch, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		got := 0
		for m := range batch.Messages() {
			var ev events.Message[T]
			require.NoError(t, json.Unmarshal(m.Data(), &ev), string(m.Data()))
			out = append(out, ev)
			got++
		}
		require.NoError(t, batch.Error())
		require.NotZero(t, got, "fetch %s", subject)
	}
	return out
}

// outbound is what the worker handed to dispatch for the creator.
func (r *rig) outbound() []events.Message[events.MessageOutbound] {
	return published[events.MessageOutbound](r.t, r.b, "CW_OUTBOUND", events.OutboundSubject(r.c, "*"))
}

// dup reports a value that occurs more than once.
func dup[T comparable](xs []T) string {
	seen := map[T]bool{}
	for _, x := range xs {
		if seen[x] {
			return fmt.Sprint(x)
		}
		seen[x] = true
	}
	return ""
}
