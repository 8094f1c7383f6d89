package gateway_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// rawMsg is a message as stored, read back for the direct computations.
type rawMsg struct {
	id, conv, user uuid.UUID
	channel, role  string
	status, code   string
	st0            string // the status it was stored with
	at, updated    time.Time
	replyTo        uuid.UUID
}

// analyticsData writes a creator's history straight into the tables (the triggers of
// migration 0017 keep the rollups): users on three channels, conversations with user messages,
// bot replies and creator messages at random times, dense around the 2026 DST switches (US
// 8 Mar / 1 Nov, EU 29 Mar / 25 Oct, Lord Howe 5 Apr / 4 Oct), in several multi-row
// statements. It returns the raw messages.
func analyticsData(t *testing.T, s *db.Store, c uuid.UUID, rng *rand.Rand, users int) []rawMsg {
	t.Helper()
	ctx := context.Background()
	anchors := []time.Time{
		time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
		time.Date(2026, 4, 4, 15, 0, 0, 0, time.UTC), time.Date(2026, 10, 3, 15, 30, 0, 0, time.UTC),
		time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC),
	}
	channels := []string{"widget", "whatsapp", "telegram"}
	var msgs []rawMsg
	type eu struct {
		id, conv uuid.UUID
		channel  string
	}
	var eus []eu
	for i := 0; i < users; i++ {
		eus = append(eus, eu{uuid.New(), uuid.New(), channels[i%3]})
	}
	for _, u := range eus {
		base := anchors[rng.IntN(len(anchors))].Add(time.Duration(rng.IntN(10*24*3600)-5*24*3600) * time.Second)
		for k := rng.IntN(12); k >= 0; k-- {
			at := base.Add(time.Duration(rng.IntN(30*24*3600)) * time.Second).Truncate(time.Millisecond)
			q := rawMsg{id: uuid.New(), conv: u.conv, user: u.id, channel: u.channel, role: "user", status: "received", at: at, updated: at}
			msgs = append(msgs, q)
			switch rng.IntN(6) {
			case 0: // unanswered
			case 1:
				msgs = append(msgs, rawMsg{id: uuid.New(), conv: u.conv, user: u.id, channel: u.channel, role: "creator", status: "sent",
					at: at.Add(time.Duration(rng.IntN(3600)) * time.Second), updated: at})
			default:
				st := "generated"
				if rng.IntN(5) == 0 {
					st = "llm_error"
				}
				r := rawMsg{id: uuid.New(), conv: u.conv, user: u.id, channel: u.channel, role: "assistant", status: st,
					at: at.Add(time.Duration(rng.IntN(20000)) * time.Millisecond), replyTo: q.id}
				r.updated, r.st0 = r.at, st
				msgs = append(msgs, r)
			}
		}
	}
	err := s.InTenant(ctx, c, func(q *db.Queries) error {
		for _, u := range eus {
			if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: u.id, CreatorID: c, Channel: u.channel, ExternalID: u.id.String()}); err != nil {
				return err
			}
			if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: u.conv, CreatorID: c, EndUserID: u.id, Channel: u.channel}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Replies after the messages they answer; three statements of many rows each.
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].role == "user" && msgs[j].role != "user" })
	for lo := 0; lo < len(msgs); {
		hi := min(len(msgs), lo+len(msgs)/3+1)
		var ids, convs, replyTo []uuid.UUID
		var roles, chans, sts []string
		var ats []time.Time
		for _, m := range msgs[lo:hi] {
			ids, convs, replyTo = append(ids, m.id), append(convs, m.conv), append(replyTo, m.replyTo)
			roles, chans, sts, ats = append(roles, m.role), append(chans, m.channel), append(sts, m.status), append(ats, m.at)
		}
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", c.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO messages (id, creator_id, conversation_id, role, body, channel, status, reply_to, created_at, updated_at)
			SELECT id, $1, conv, role, 'm', ch, st, NULLIF(rt, '00000000-0000-0000-0000-000000000000'::uuid), at, at
			FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::timestamptz[]) AS x(id, conv, role, ch, st, rt, at)`,
			c, ids, convs, roles, chans, sts, replyTo, ats); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		lo = hi
	}
	return msgs
}

// day is a local date in loc.
func localDay(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
}

// expected computes a period's activity figures from the raw messages.
type activityWant struct {
	Conversations, MessagesIn, MessagesOut, ActiveUsers, NewUsers, Returning, Active7d, Active30d int64
	Median                                                                                        float64
}

func activityFrom(msgs []rawMsg, loc *time.Location, from, to time.Time, channel string, first map[uuid.UUID]time.Time) activityWant {
	var w activityWant
	perConv := map[uuid.UUID]int{}
	active := map[uuid.UUID]bool{}
	a7, a30 := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	for _, m := range msgs {
		if channel != "" && m.channel != channel {
			continue
		}
		d := localDay(m.at, loc)
		if m.role == "user" && !d.After(to) {
			if !d.Before(to.AddDate(0, 0, -6)) {
				a7[m.user] = true
			}
			if !d.Before(to.AddDate(0, 0, -29)) {
				a30[m.user] = true
			}
		}
		if d.Before(from) || d.After(to) {
			continue
		}
		perConv[m.conv]++
		if m.role == "user" {
			w.MessagesIn++
			active[m.user] = true
		} else {
			w.MessagesOut++
		}
	}
	w.Conversations = int64(len(perConv))
	w.ActiveUsers = int64(len(active))
	w.Active7d, w.Active30d = int64(len(a7)), int64(len(a30))
	for u := range active {
		if localDay(first[u], loc).Before(from) {
			w.Returning++
		}
	}
	for u, f := range first {
		_ = u
		if d := localDay(f, loc); !d.Before(from) && !d.After(to) {
			if channel == "" || firstChannel(msgs, u) == channel {
				w.NewUsers++
			}
		}
	}
	counts := make([]float64, 0, len(perConv))
	for _, n := range perConv {
		counts = append(counts, float64(n))
	}
	sort.Float64s(counts)
	if n := len(counts); n > 0 {
		// percentile_cont(0.5): linear interpolation.
		pos := 0.5 * float64(n-1)
		lo := int(math.Floor(pos))
		hi := int(math.Ceil(pos))
		w.Median = counts[lo] + (counts[hi]-counts[lo])*(pos-float64(lo))
	}
	return w
}

func firstChannel(msgs []rawMsg, u uuid.UUID) string {
	for _, m := range msgs {
		if m.user == u {
			return m.channel
		}
	}
	return ""
}

// pdisc is percentile_disc over sorted values: the first whose cumulative share reaches p.
func pdisc(sorted []int64, p float64) *int64 {
	if len(sorted) == 0 {
		return nil
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, i)
	return &sorted[i]
}

type analyticsRangeQ struct {
	tz, gran, channel string
	from, to          time.Time
}

func (r analyticsRangeQ) query() string {
	q := fmt.Sprintf("from=%s&to=%s&tz=%s&granularity=%s", r.from.Format("2006-01-02"), r.to.Format("2006-01-02"), r.tz, r.gran)
	if r.channel != "" {
		q += "&channel=" + r.channel
	}
	return q
}

// periodsOf lists the periods [start, end] of a range.
func periodsOf(r analyticsRangeQ) [][2]time.Time {
	var out [][2]time.Time
	for d := r.from; !d.After(r.to); d = d.AddDate(0, 0, 1) {
		if r.gran == "day" {
			out = append(out, [2]time.Time{d, d})
			continue
		}
		if d.Equal(r.from) || d.Weekday() == time.Monday {
			out = append(out, [2]time.Time{d, d})
		}
		out[len(out)-1][1] = d
	}
	return out
}

// TestAnalyticsExact compares every activity, responsiveness, retention and channel figure the
// API gives with the same figure computed directly from the raw message rows in Go (its own
// time-zone arithmetic), for random ranges, time zones (half- and quarter-hour offsets, a
// half-hour DST) and granularities, with and without a channel filter; the ranges cover the
// 2026 DST switches.
func TestAnalyticsExact(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 12))
	e := newFullEnv(t)
	a := e.c.Register(t)
	store := testenv.Store(t)
	ctx := context.Background()
	zones := analyticsZones
	// The creator's own zone while the rows are written (the per-day rollup's trigger path; the
	// first range is asked in it).
	ownZone := zones[1+rng.IntN(len(zones)-1)]
	setZone := func(tz string) { t.Helper(); setCreatorZone(t, store, a.ID, tz) }
	setZone(ownZone)
	msgs := analyticsData(t, store, a.ID, rng, 60)

	// Opt-outs and delivery failures at known times (the rollup takes the row's own times).
	var failed []rawMsg
	tx, err := store.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", a.ID.String()); err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if msgs[i].role != "user" && rng.IntN(8) == 0 {
			msgs[i].status, msgs[i].code = "failed", fmt.Sprintf("E%d", rng.IntN(3))
			if msgs[i].channel == "whatsapp" && rng.IntN(2) == 0 {
				msgs[i].status = "window_closed"
			}
			msgs[i].updated = msgs[i].at.Add(time.Duration(rng.IntN(7200)) * time.Second)
			if _, err := tx.Exec(ctx, "UPDATE messages SET status = $2, error_code = $3, updated_at = $4 WHERE id = $1",
				msgs[i].id, msgs[i].status, msgs[i].code, msgs[i].updated); err != nil {
				t.Fatal(err)
			}
			failed = append(failed, msgs[i])
		}
	}
	optOuts := map[uuid.UUID]time.Time{}
	for _, m := range msgs {
		if m.role == "user" && len(optOuts) < 10 && rng.IntN(10) == 0 {
			if _, ok := optOuts[m.user]; ok {
				continue
			}
			optOuts[m.user] = m.at.Add(time.Minute)
			if _, err := tx.Exec(ctx, "UPDATE end_users SET opted_out_at = $2 WHERE id = $1", m.user, m.at.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	first := map[uuid.UUID]time.Time{}
	for _, m := range msgs {
		if m.role == "user" {
			if f, ok := first[m.user]; !ok || m.at.Before(f) {
				first[m.user] = m.at
			}
		}
	}
	userAt := map[uuid.UUID]time.Time{}
	for _, m := range msgs {
		if m.role == "user" {
			userAt[m.id] = m.at
		}
	}
	chanOfUser := map[uuid.UUID]string{}
	for _, m := range msgs {
		chanOfUser[m.user] = m.channel
	}

	starts := []time.Time{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 9, 28, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)}
	for i := 0; i < 10; i++ {
		r := analyticsRangeQ{tz: zones[rng.IntN(len(zones))], gran: []string{"day", "week"}[rng.IntN(2)]}
		if i == 0 {
			r.tz = ownZone
		}
		r.from = starts[rng.IntN(len(starts))].AddDate(0, 0, rng.IntN(10))
		r.to = r.from.AddDate(0, 0, 3+rng.IntN(40))
		if i == 2 {
			// Always one range inside one week (Tuesday to Friday), asked by week in the
			// creator's own zone: no whole week and no tail, only the clipped head.
			r.gran, r.from = "week", time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
			r.to = r.from.AddDate(0, 0, 3)
		}
		if rng.IntN(3) == 0 {
			r.channel = []string{"widget", "whatsapp", "telegram"}[rng.IntN(3)]
		}
		loc, err := time.LoadLocation(r.tz)
		if err != nil {
			t.Fatal(err)
		}
		// Every other range is asked in the creator's own zone (the per-day rollup: kept by the
		// trigger for the first, rebuilt by the zone change for the others), the rest in another
		// zone (the quarter-hour rollup).
		home := i%2 == 0
		switch {
		case i == 0:
		case home:
			setZone(r.tz)
		case r.tz == ownZone:
			setZone("Asia/Tokyo")
		}
		if home {
			ownZone = r.tz
		} else if r.tz == ownZone {
			ownZone = "Asia/Tokyo"
		}
		t.Run(fmt.Sprintf("%s_%s_%s_%s_%s_home=%t", strings.ReplaceAll(r.tz, "/", "-"), r.gran, r.channel, r.from.Format("0102"), r.to.Format("0102"), home), func(t *testing.T) {
			// Activity.
			st, _, raw := e.call(t, "GET", "/api/v1/analytics/activity?"+r.query(), a.AccessToken, nil)
			if st != http.StatusOK {
				t.Fatalf("activity: %d %s", st, raw)
			}
			act := decode[struct {
				Series []struct {
					Period                                                                                                       string
					Conversations, MessagesIn, MessagesOut, ActiveUsers, ActiveUsers7d, ActiveUsers30d, NewUsers, ReturningUsers int64
					MedianMessagesPerConversation                                                                                float64
				}
				Totals struct {
					Conversations, MessagesIn, MessagesOut, ActiveUsers, NewUsers, ReturningUsers int64
					MedianMessagesPerConversation                                                 float64
				}
			}](t, snake(raw))
			ps := periodsOf(r)
			if len(act.Series) != len(ps) {
				t.Fatalf("%d periods, want %d", len(act.Series), len(ps))
			}
			for i, p := range ps {
				w := activityFrom(msgs, loc, p[0], p[1], r.channel, first)
				g := act.Series[i]
				got := activityWant{g.Conversations, g.MessagesIn, g.MessagesOut, g.ActiveUsers, g.NewUsers, g.ReturningUsers, g.ActiveUsers7d, g.ActiveUsers30d, g.MedianMessagesPerConversation}
				if g.Period != p[0].Format("2006-01-02") || got != w {
					t.Fatalf("period %s: got %+v (%s), want %+v", p[0].Format("2006-01-02"), got, g.Period, w)
				}
			}
			tw := activityFrom(msgs, loc, r.from, r.to, r.channel, first)
			tg := act.Totals
			if tg.Conversations != tw.Conversations || tg.MessagesIn != tw.MessagesIn || tg.MessagesOut != tw.MessagesOut ||
				tg.ActiveUsers != tw.ActiveUsers || tg.NewUsers != tw.NewUsers || tg.ReturningUsers != tw.Returning || tg.MedianMessagesPerConversation != tw.Median {
				t.Fatalf("totals %+v, want %+v", tg, tw)
			}

			// Responsiveness.
			st, _, raw = e.call(t, "GET", "/api/v1/analytics/responsiveness?"+r.query(), a.AccessToken, nil)
			if st != http.StatusOK {
				t.Fatalf("responsiveness: %d %s", st, raw)
			}
			resp := decode[struct {
				Series []struct {
					Period                                            string
					Turns, LLMErrors, PassagesAnswers, DeadLettered   int64
					FinalReplyP50Ms, FinalReplyP95Ms, FirstTokenP50Ms *int64
				}
			}](t, snake(raw))
			for i, p := range ps {
				var finals []int64
				var errs int64
				for _, m := range msgs {
					if m.role != "assistant" || m.replyTo == uuid.Nil || (r.channel != "" && m.channel != r.channel) {
						continue
					}
					asked := userAt[m.replyTo]
					if d := localDay(asked, loc); d.Before(p[0]) || d.After(p[1]) {
						continue
					}
					finals = append(finals, int64(math.Floor(float64(m.at.Sub(asked).Microseconds())/1000)))
					if m.st0 == "llm_error" {
						errs++
					}
				}
				slices.Sort(finals)
				g := resp.Series[i]
				if g.Turns != int64(len(finals)) || !eqPtr(g.FinalReplyP50Ms, pdisc(finals, 0.5)) || !eqPtr(g.FinalReplyP95Ms, pdisc(finals, 0.95)) ||
					g.FirstTokenP50Ms != nil || g.LLMErrors != errs || g.PassagesAnswers != 0 || g.DeadLettered != 0 {
					t.Fatalf("responsiveness %s: turns %d p50 %v p95 %v errors %d, want %d %v %v %d", p[0], g.Turns, deref(g.FinalReplyP50Ms), deref(g.FinalReplyP95Ms),
						g.LLMErrors, len(finals), deref(pdisc(finals, 0.5)), deref(pdisc(finals, 0.95)), errs)
				}
			}

			// Channels: opt-outs, failures and window-closed by the rows' own times.
			st, _, raw = e.call(t, "GET", "/api/v1/analytics/channels?"+r.query(), a.AccessToken, nil)
			if st != http.StatusOK {
				t.Fatalf("channels: %d %s", st, raw)
			}
			ch := decode[struct {
				Series []struct {
					Period                                       string
					OptOuts, Sends, WindowClosed, ProviderErrors int64
				}
			}](t, snake(raw))
			for i, p := range ps {
				var outs, sends, wc, pe int64
				in := func(at time.Time) bool { d := localDay(at, loc); return !d.Before(p[0]) && !d.After(p[1]) }
				for u, at := range optOuts {
					if (r.channel == "" || chanOfUser[u] == r.channel) && in(at) {
						outs++
					}
				}
				for _, m := range msgs {
					if m.role != "user" && (r.channel == "" || m.channel == r.channel) && in(m.at) {
						sends++
					}
				}
				for _, m := range failed {
					if (r.channel == "" || m.channel == r.channel) && in(m.updated) {
						if m.status == "window_closed" {
							wc++
						} else {
							pe++
						}
					}
				}
				g := ch.Series[i]
				if g.OptOuts != outs || g.Sends != sends || g.WindowClosed != wc || g.ProviderErrors != pe {
					t.Fatalf("channels %s: got %+v, want opt-outs %d sends %d window-closed %d errors %d", p[0], g, outs, sends, wc, pe)
				}
			}

			// Retention: cohorts by the local week of first contact.
			st, _, raw = e.call(t, "GET", "/api/v1/analytics/retention?"+r.query(), a.AccessToken, nil)
			if st != http.StatusOK {
				t.Fatalf("retention: %d %s", st, raw)
			}
			ret := decode[struct {
				Cohorts []struct {
					Cohort string
					Users  int64
					Active []*int64
				}
			}](t, snake(raw))
			type cw struct {
				users  int64
				active [9]map[uuid.UUID]bool
			}
			want := map[string]*cw{}
			monday := func(d time.Time) time.Time { return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7)) }
			cohortOf := map[uuid.UUID]time.Time{}
			for u, f := range first {
				d := localDay(f, loc)
				if d.Before(r.from) || d.After(r.to) || (r.channel != "" && chanOfUser[u] != r.channel) {
					continue
				}
				k := monday(d)
				cohortOf[u] = k
				if want[k.Format("2006-01-02")] == nil {
					want[k.Format("2006-01-02")] = &cw{}
				}
				want[k.Format("2006-01-02")].users++
			}
			for _, m := range msgs {
				k, ok := cohortOf[m.user]
				if !ok || m.role != "user" {
					continue
				}
				wk := int(localDay(m.at, loc).Sub(k).Hours()/24) / 7
				if wk >= 1 && wk <= 8 {
					c := want[k.Format("2006-01-02")]
					if c.active[wk] == nil {
						c.active[wk] = map[uuid.UUID]bool{}
					}
					c.active[wk][m.user] = true
				}
			}
			if len(ret.Cohorts) != len(want) {
				t.Fatalf("%d cohorts, want %d", len(ret.Cohorts), len(want))
			}
			for _, c := range ret.Cohorts {
				w := want[c.Cohort]
				if w == nil || w.users != c.Users {
					t.Fatalf("cohort %s: %d users, want %+v", c.Cohort, c.Users, w)
				}
				k, _ := time.Parse("2006-01-02", c.Cohort)
				for wk := 1; wk <= 8; wk++ {
					if k.AddDate(0, 0, 7*wk).After(r.to) {
						if c.Active[wk-1] != nil {
							t.Fatalf("cohort %s week %d not begun, got %d", c.Cohort, wk, *c.Active[wk-1])
						}
						continue
					}
					if c.Active[wk-1] == nil || *c.Active[wk-1] != int64(len(w.active[wk])) {
						t.Fatalf("cohort %s week %d: %v, want %d", c.Cohort, wk, deref(c.Active[wk-1]), len(w.active[wk]))
					}
				}
			}
		})
	}
}

func eqPtr(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// snake turns the API's snake_case keys into what encoding/json matches case-insensitively
// against Go field names (underscores dropped).
func snake(raw []byte) []byte {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			m := map[string]any{}
			for k, v := range x {
				m[strings.ReplaceAll(k, "_", "")] = walk(v)
			}
			return m
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return x
	}
	out, _ := json.Marshal(walk(v))
	return out
}

// TestAnalyticsTenancyErasureCSV: creator B sees none of A's figures; knowledge-gap text only
// for roles that read messages; a deleted end user leaves nothing personal in the rollups; every
// table of every section comes as CSV with the JSON's rows.
func TestAnalyticsTenancyErasureCSV(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	a, b := e.c.Register(t), e.c.Register(t)
	store := testenv.Store(t)
	ctx := context.Background()
	now := time.Now().UTC()
	rng := rand.New(rand.NewPCG(1, 2))
	_ = analyticsData(t, store, a.ID, rng, 12)

	// A gap asked twice in near-identical words, and one by the person who is then erased.
	gone, conv := uuid.New(), uuid.New()
	ask := func(user, conv uuid.UUID, text string) {
		t.Helper()
		if err := store.InTenant(ctx, a.ID, func(q *db.Queries) error {
			if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: user, CreatorID: a.ID, Channel: "widget", ExternalID: user.String()}); err != nil {
				return err
			}
			if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: conv, CreatorID: a.ID, EndUserID: user, Channel: "widget"}); err != nil {
				return err
			}
			m, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: a.ID, ConversationID: conv, Role: "user", Body: text,
				Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"})
			if err != nil {
				return err
			}
			_, err = q.InsertReply(ctx, db.InsertReplyParams{ID: uuid.New(), CreatorID: a.ID, ConversationID: conv, Body: "I couldn't find that.",
				Sources: json.RawMessage("[]"), ReplyTo: uuid.NullUUID{UUID: m.ID, Valid: true}, Channel: "widget", Status: "generated", Covers: []uuid.UUID{m.ID}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	ask(uuid.New(), uuid.New(), "How do I reset my plan?")
	ask(gone, conv, "how do i reset my plan")
	q := fmt.Sprintf("from=%s&to=%s&tz=UTC", now.AddDate(0, 0, -2).Format("2006-01-02"), now.Format("2006-01-02"))

	type gaps struct {
		Gaps []struct {
			Question string `json:"question"`
			Count    int64  `json:"count"`
			Examples []struct {
				ConversationID string `json:"conversation_id"`
				Text           string `json:"text"`
			} `json:"examples"`
		} `json:"gaps"`
	}
	st, _, raw := e.call(t, "GET", "/api/v1/analytics/knowledge-gaps?"+q, a.AccessToken, nil)
	g := decode[gaps](t, raw)
	if st != http.StatusOK || len(g.Gaps) != 1 || g.Gaps[0].Count != 2 || g.Gaps[0].Question != "how do i reset my plan" || g.Gaps[0].Examples[0].Text == "" {
		t.Fatalf("owner's gaps: %d %s", st, raw)
	}
	viewer := e.join(t, a.AccessToken, "viewer", false)
	st, _, raw = e.call(t, "GET", "/api/v1/analytics/knowledge-gaps?"+q, viewer.AccessToken, nil)
	if g := decode[gaps](t, raw); st != http.StatusOK || len(g.Gaps) != 1 || g.Gaps[0].Count != 2 || strings.Contains(string(raw), "reset") {
		t.Fatalf("viewer without content read the questions: %d %s", st, raw)
	}
	reader := e.join(t, a.AccessToken, "viewer", true)
	if st, _, raw = e.call(t, "GET", "/api/v1/analytics/knowledge-gaps?"+q, reader.AccessToken, nil); st != http.StatusOK || !strings.Contains(string(raw), "reset my plan") {
		t.Fatalf("viewer with content: %d %s", st, raw)
	}
	agent := e.join(t, a.AccessToken, "agent", false)
	if st, code, _ := e.call(t, "GET", "/api/v1/analytics/activity?"+q, agent.AccessToken, nil); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("agent on analytics: %d %s", st, code)
	}

	// B: nothing of A, in any section.
	wide := "from=2026-01-01&to=" + now.Format("2006-01-02") + "&tz=UTC&granularity=week"
	for _, sec := range []string{"activity", "responsiveness", "knowledge-gaps", "retention", "campaigns", "programs", "channels", "team"} {
		st, _, raw := e.call(t, "GET", "/api/v1/analytics/"+sec+"?"+wide, b.AccessToken, nil)
		if st != http.StatusOK {
			t.Fatalf("B %s: %d %s", sec, st, raw)
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		if n := nonZero(v); n != "" {
			t.Fatalf("B's %s shows %s: %s", sec, n, raw)
		}
		st, _, rawA := e.call(t, "GET", "/api/v1/analytics/"+sec+"?"+wide, a.AccessToken, nil)
		if st != http.StatusOK {
			t.Fatalf("A %s: %d", sec, st)
		}
		_ = json.Unmarshal(rawA, &v)
		if n := nonZero(v); n == "" && sec != "campaigns" && sec != "programs" && sec != "team" {
			t.Fatalf("A's %s is empty too (the check cannot fail): %s", sec, rawA)
		}
	}

	// CSV: every table of every section, by format=csv and by Accept.
	tables := map[string][]string{"activity": {"series"}, "responsiveness": {"series"}, "knowledge-gaps": {"gaps", "documents"},
		"retention": {"cohorts"}, "campaigns": {"occurrences", "campaigns"}, "programs": {"steps"}, "channels": {"series", "errors"}, "team": {"series", "members"}}
	jsonKey := map[string]string{"documents": "", "cohorts": "cohorts"}
	for sec, ts := range tables {
		_, _, rawJSON := e.call(t, "GET", "/api/v1/analytics/"+sec+"?"+wide, a.AccessToken, nil)
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(rawJSON, &obj)
		for _, tb := range ts {
			st, body := e.raw(t, "GET", "/api/v1/analytics/"+sec+"?"+wide+"&format=csv&table="+tb, a.AccessToken, "", nil)
			recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
			if st != http.StatusOK || err != nil || len(recs) < 1 {
				t.Fatalf("%s/%s CSV: %d %v %s", sec, tb, st, err, body)
			}
			key := tb
			if k, ok := jsonKey[tb]; ok {
				key = k
			}
			if key == "" {
				continue
			}
			var rows []map[string]any
			_ = json.Unmarshal(obj[key], &rows)
			if len(recs)-1 != len(rows) {
				t.Fatalf("%s/%s: %d CSV rows, %d in JSON", sec, tb, len(recs)-1, len(rows))
			}
			for _, col := range recs[0] {
				if len(rows) > 0 {
					if _, ok := rows[0][col]; !ok && col != "question" && col != "text" && col != "section" {
						t.Fatalf("%s/%s: CSV column %q not in the JSON", sec, tb, col)
					}
				}
			}
		}
	}
	st, body := e.raw(t, "GET", "/api/v1/analytics/activity?"+q+"&table=nope&format=csv", a.AccessToken, "", nil)
	if st != http.StatusBadRequest || errCode(body) != "bad_query" {
		t.Fatalf("unknown table: %d %s", st, body)
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/v1/analytics/activity?"+q, nil)
	req.Header.Set("Authorization", "Bearer "+a.AccessToken)
	req.Header.Set("Accept", "text/csv")
	res, err := e.ts.Client().Do(req)
	if err != nil || res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("Accept: text/csv: %v %v", err, res)
	}
	res.Body.Close()

	// Erasure: the person is deleted; nothing of theirs stays in any rollup.
	tx, err := store.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", a.ID.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM end_users WHERE id = $1", gone); err != nil {
		t.Fatal(err)
	}
	for _, check := range []string{
		"SELECT count(*) FROM analytics_activity WHERE end_user_id = $1 OR conversation_id = $2",
		"SELECT count(*) FROM analytics_first_contact WHERE end_user_id = $1 OR $2::uuid IS NULL",
		"SELECT count(*) FROM analytics_turns WHERE conversation_id = $2 OR $1::uuid IS NULL",
		"SELECT count(*) FROM analytics_gaps WHERE conversation_id = $2 OR question = 'how do i reset my plan' OR $1::uuid IS NULL",
		"SELECT count(*) FROM analytics_team_events WHERE conversation_id = $2 OR $1::uuid IS NULL",
		"SELECT count(*) FROM analytics_campaign_state WHERE end_user_id = $1 OR $2::uuid IS NULL",
	} {
		var n int
		if err := tx.QueryRow(ctx, check, gone, conv).Scan(&n); err != nil || n != 0 {
			t.Fatalf("after erasure %q: %d %v", check, n, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	st, _, raw = e.call(t, "GET", "/api/v1/analytics/knowledge-gaps?"+q, a.AccessToken, nil)
	if g := decode[gaps](t, raw); st != http.StatusOK || len(g.Gaps) != 1 || g.Gaps[0].Count != 1 || g.Gaps[0].Question != "How do I reset my plan?" {
		t.Fatalf("gaps after erasure: %d %s", st, raw)
	}

	// Keyword auto-replies (opt words, a program's keyword: retrieve stores them 'queued', without
	// passages) are no knowledge gaps; a coach answer without passages to the same words is.
	other, otherConv := uuid.New(), uuid.New()
	autoReply := func(user, conv uuid.UUID, text, status string) {
		t.Helper()
		if err := store.InTenant(ctx, a.ID, func(q *db.Queries) error {
			if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: user, CreatorID: a.ID, Channel: "widget", ExternalID: user.String()}); err != nil {
				return err
			}
			if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: conv, CreatorID: a.ID, EndUserID: user, Channel: "widget"}); err != nil {
				return err
			}
			m, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: a.ID, ConversationID: conv, Role: "user", Body: text,
				Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"})
			if err != nil || status == "" {
				return err
			}
			_, err = q.InsertReply(ctx, db.InsertReplyParams{ID: uuid.New(), CreatorID: a.ID, ConversationID: conv, Body: "You're unsubscribed.",
				Sources: json.RawMessage("[]"), ReplyTo: uuid.NullUUID{UUID: m.ID, Valid: true}, Channel: "widget", Status: status, Covers: []uuid.UUID{m.ID}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	autoReply(other, otherConv, "STOP", "queued")
	autoReply(other, otherConv, "SLEEPWELL", "queued")
	st, _, raw = e.call(t, "GET", "/api/v1/analytics/knowledge-gaps?"+q, a.AccessToken, nil)
	if g := decode[gaps](t, raw); st != http.StatusOK || len(g.Gaps) != 1 || g.Gaps[0].Count != 1 {
		t.Fatalf("an auto-reply counted as a knowledge gap: %d %s", st, raw)
	}
	autoReply(other, otherConv, "SLEEPWELL", "generated")
	st, _, raw = e.call(t, "GET", "/api/v1/analytics/knowledge-gaps?"+q, a.AccessToken, nil)
	if g := decode[gaps](t, raw); st != http.StatusOK || len(g.Gaps) != 2 {
		t.Fatalf("a coach answer without passages is a gap (the check above cannot pass by itself): %d %s", st, raw)
	}

	// Team: a member's takeover is listed under their name.
	waiting, waitingConv := uuid.New(), uuid.New()
	autoReply(waiting, waitingConv, "Can someone help me?", "")
	if st, _, raw := e.call(t, "POST", "/api/v1/conversations/"+waitingConv.String()+"/takeover", agent.AccessToken, nil); st != http.StatusOK {
		t.Fatalf("takeover: %d %s", st, raw)
	}
	st, _, raw = e.call(t, "GET", "/api/v1/analytics/team?"+q, a.AccessToken, nil)
	team := decode[struct {
		Members []struct {
			UserID    string `json:"user_id"`
			Name      string `json:"name"`
			Takeovers int64  `json:"takeovers"`
		} `json:"members"`
	}](t, raw)
	named := 0
	for _, m := range team.Members {
		if m.UserID != "" && m.Name == "Member" && m.Takeovers == 1 {
			named++
		}
	}
	if st != http.StatusOK || named != 1 {
		t.Fatalf("team members: %d %s", st, raw)
	}

	// Dead-lettered turns (recorded by generate.DeadTurns) are counted by the day of the message.
	if err := store.InTenant(ctx, a.ID, func(q *db.Queries) error {
		for _, ch := range []string{"widget", "telegram"} {
			if err := q.RecordDeadLetter(ctx, db.RecordDeadLetterParams{EventID: uuid.New(), CreatorID: a.ID, Channel: ch, Stage: "generate", At: now}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	type deadLettered struct {
		Totals struct {
			DeadLettered int64 `json:"dead_lettered"`
		} `json:"totals"`
	}
	st, _, raw = e.call(t, "GET", "/api/v1/analytics/responsiveness?"+q, a.AccessToken, nil)
	if d := decode[deadLettered](t, raw); st != http.StatusOK || d.Totals.DeadLettered != 2 {
		t.Fatalf("dead-lettered turns: %d %s", st, raw)
	}
	st, _, raw = e.call(t, "GET", "/api/v1/analytics/responsiveness?"+q+"&channel=telegram", a.AccessToken, nil)
	if d := decode[deadLettered](t, raw); st != http.StatusOK || d.Totals.DeadLettered != 1 {
		t.Fatalf("dead-lettered turns on telegram: %d %s", st, raw)
	}
	st, _, raw = e.call(t, "GET", "/api/v1/analytics/responsiveness?"+q, b.AccessToken, nil)
	if d := decode[deadLettered](t, raw); st != http.StatusOK || d.Totals.DeadLettered != 0 {
		t.Fatalf("B sees A's dead letters: %d %s", st, raw)
	}
}

// nonZero names the first non-zero number or non-empty list in v ("" when none): the range
// echo and null percentiles aside.
func nonZero(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "range" || k == "period" || k == "cohort" {
				continue
			}
			if n := nonZero(e); n != "" {
				return k + "." + n
			}
		}
	case []any:
		for _, e := range x {
			if n := nonZero(e); n != "" {
				return n
			}
		}
	case float64:
		if x != 0 {
			return fmt.Sprint(x)
		}
	case string:
		if x != "" {
			return x
		}
	}
	return ""
}

// analyticsZones are the zones the exactness tests ask in: whole-hour, half-hour and 45-minute
// offsets, both hemispheres' DST, a 30-minute DST shift (Lord Howe).
var analyticsZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham"}

// setCreatorZone changes the creator's own time zone, keeping the rest of its send policy.
func setCreatorZone(t *testing.T, store *db.Store, creator uuid.UUID, tz string) {
	t.Helper()
	ctx := context.Background()
	if err := store.InTenant(ctx, creator, func(q *db.Queries) error {
		p, err := q.GetCreatorPolicy(ctx, creator)
		if err != nil {
			return err
		}
		_, err = q.SetCreatorPolicy(ctx, db.SetCreatorPolicyParams{ID: creator, Timezone: tz, QuietStart: p.QuietStart, QuietEnd: p.QuietEnd,
			CapDay: p.NudgeCapDay, CapWeek: p.NudgeCapWeek})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
