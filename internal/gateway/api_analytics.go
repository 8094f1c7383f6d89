package gateway

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/coachwire/coachwire/internal/analytics"
	"github.com/coachwire/coachwire/internal/auth/perm"
	"github.com/coachwire/coachwire/internal/db"
)

// The analytics API (issue 12, docs/api.md "Analytics"): every figure is read from the rollup
// tables of migrations 0017 and 0027 for a range of local days in a time zone.

const (
	dateLayout        = "2006-01-02"
	maxAnalyticsDays  = 400
	defaultRangeDays  = 30
	analyticsMaxGapEx = 5
)

// analyticsRange is a request's range: local days [From, To] in Loc, cut by Mode.
type analyticsRange struct {
	From, To   time.Time // local midnights (dates in Loc)
	Start, End time.Time // the instants: From's midnight and the midnight after To
	Loc        *time.Location
	TZ         string
	Mode       string // day or week
	Channel    string
	CSV        bool
	Table      string
	// Home is true when TZ is the creator's own zone (creators.timezone): the figures that
	// count distinct people read the per-day rollup (analytics_days) instead of quarter-hours.
	Home bool
}

func (ar analyticsRange) fromDay() pgtype.Date { return pgDate(ar.From) }

func pgDate(t time.Time) pgtype.Date {
	return pgtype.Date{Time: time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), Valid: true}
}

// localMidnight is the first instant of the local day of t's date in loc.
func localMidnight(y int, m time.Month, d int, loc *time.Location) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// parseAnalyticsRange reads from, to, tz, granularity, channel, format and table.
func (s *Server) parseAnalyticsRange(ctx context.Context, r *http.Request, a creatorAuth) (analyticsRange, error) {
	if err := checkQuery(r); err != nil {
		return analyticsRange{}, err
	}
	q := r.URL.Query()
	ar := analyticsRange{TZ: q.Get("tz"), Mode: q.Get("granularity"), Channel: q.Get("channel"), Table: q.Get("table")}
	var home string
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		p, err := q.GetCreatorPolicy(ctx, a.CreatorID)
		home = p.Timezone
		return err
	}); err != nil {
		return ar, err
	}
	if ar.TZ == "" {
		ar.TZ = cmp.Or(home, "UTC")
	}
	ar.Home = ar.TZ == home
	loc, err := time.LoadLocation(ar.TZ)
	if err != nil || ar.TZ == "Local" {
		return ar, errBadRequest("bad_query", "tz: not an IANA time zone")
	}
	ar.Loc = loc
	if _, err := channelFilter(q); err != nil {
		return ar, err
	}
	switch ar.Mode {
	case "":
		ar.Mode = "day"
	case "day", "week":
	default:
		return ar, errBadRequest("bad_query", "granularity: day or week")
	}
	switch f := q.Get("format"); f {
	case "", "json":
		ar.CSV = strings.Contains(r.Header.Get("Accept"), "text/csv") && f == ""
	case "csv":
		ar.CSV = true
	default:
		return ar, errBadRequest("bad_query", "format: json or csv")
	}
	day := func(name string) (time.Time, bool, error) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, false, nil
		}
		d, err := time.Parse(dateLayout, v)
		if err != nil {
			return time.Time{}, false, errBadRequest("bad_query", name+": a date YYYY-MM-DD")
		}
		return d, true, nil
	}
	to, okTo, err := day("to")
	if err != nil {
		return ar, err
	}
	from, okFrom, err := day("from")
	if err != nil {
		return ar, err
	}
	if !okTo {
		now := s.Now().In(loc)
		to = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	}
	if !okFrom {
		from = to.AddDate(0, 0, -(defaultRangeDays - 1))
	}
	if from.After(to) {
		return ar, errBadRequest("bad_query", "from is after to")
	}
	if to.Sub(from) > maxAnalyticsDays*24*time.Hour {
		return ar, errBadRequest("bad_query", fmt.Sprintf("at most %d days", maxAnalyticsDays))
	}
	ar.From, ar.To = from, to
	ar.Start = localMidnight(from.Year(), from.Month(), from.Day(), loc)
	ar.End = localMidnight(to.Year(), to.Month(), to.Day()+1, loc)
	return ar, nil
}

// periods lists the range's periods (the first local day of each): every day, or every
// Monday-started week clipped to From.
func (ar analyticsRange) periods() []time.Time {
	var out []time.Time
	for d := ar.From; !d.After(ar.To); d = d.AddDate(0, 0, 1) {
		if ar.Mode == "day" || d.Equal(ar.From) || d.Weekday() == time.Monday {
			out = append(out, d)
		}
	}
	return out
}

// periodEnd is the last day of the period starting at p.
func (ar analyticsRange) periodEnd(p time.Time) time.Time {
	if ar.Mode == "day" {
		return p
	}
	end := p
	for end.AddDate(0, 0, 1).Weekday() != time.Monday && end.Before(ar.To) {
		end = end.AddDate(0, 0, 1)
	}
	return end
}

func dateKey(d pgtype.Date) string { return d.Time.Format(dateLayout) }

func (ar analyticsRange) echo() map[string]any {
	m := map[string]any{"from": ar.From.Format(dateLayout), "to": ar.To.Format(dateLayout), "tz": ar.TZ, "granularity": ar.Mode}
	if ar.Channel != "" {
		m["channel"] = ar.Channel
	}
	return m
}

// ms turns a percentile (-1: none) into a nullable number.
func ms(v int64) *int64 {
	if v < 0 {
		return nil
	}
	return &v
}

// Activity.

type activityRow struct {
	Period        string  `json:"period"`
	Conversations int64   `json:"conversations"`
	MessagesIn    int64   `json:"messages_in"`
	MessagesOut   int64   `json:"messages_out"`
	ActiveUsers   int64   `json:"active_users"`
	Active7d      int64   `json:"active_users_7d"`
	Active30d     int64   `json:"active_users_30d"`
	NewUsers      int64   `json:"new_users"`
	Returning     int64   `json:"returning_users"`
	Median        float64 `json:"median_messages_per_conversation"`
}

type activityTotals struct {
	Conversations int64   `json:"conversations"`
	MessagesIn    int64   `json:"messages_in"`
	MessagesOut   int64   `json:"messages_out"`
	ActiveUsers   int64   `json:"active_users"`
	NewUsers      int64   `json:"new_users"`
	Returning     int64   `json:"returning_users"`
	Median        float64 `json:"median_messages_per_conversation"`
}

// analyticsActivity computes the activity section.
func analyticsActivity(ctx context.Context, q *db.Queries, c uuid.UUID, ar analyticsRange) ([]activityRow, activityTotals, error) {
	var rows, all []db.AnalyticsActivityRow
	var win []db.AnalyticsActiveWindowsRow
	before := ar.From.AddDate(0, 0, -29)
	if ar.Home {
		// One query: the periods, and the totals as the row without a period.
		// The range's whole weeks: from the first Monday on or after From to the last Sunday on
		// or before To (the others are read per day).
		weeksFrom := ar.From.AddDate(0, 0, (8-isoWeekday(ar.From))%7)
		tailFrom := ar.To.AddDate(0, 0, 1-(isoWeekday(ar.To)%7))
		if weeksFrom.After(tailFrom) {
			// From and To inside one week (From after its Monday, To before its Sunday): no whole
			// week, and the head (From until the next Monday) would pass To and overlap the tail
			// (To's Monday until To). The head alone is the range.
			weeksFrom, tailFrom = ar.To.AddDate(0, 0, 1), ar.To.AddDate(0, 0, 1)
		}
		rs, err := q.AnalyticsActivityHome(ctx, db.AnalyticsActivityHomeParams{Mode: ar.Mode, Tz: ar.TZ, FromDay: ar.fromDay(), ToDay: pgDate(ar.To),
			CreatorID: c, Channel: ar.Channel, StartAt: ar.Start, EndAt: ar.End, WeeksFrom: pgDate(weeksFrom), WeeksLast: pgDate(tailFrom.AddDate(0, 0, -7)), TailFrom: pgDate(tailFrom),
			// A long range takes the conversations it covers whole from their spans.
			BySpan: ar.To.Sub(ar.From) > 62*24*time.Hour})
		if err != nil {
			return nil, activityTotals{}, err
		}
		for _, r := range rs {
			med, err := histMedian(r.Hist)
			if err != nil {
				return nil, activityTotals{}, err
			}
			row := db.AnalyticsActivityRow{Period: r.Period, Conversations: r.Conversations, MessagesIn: r.MessagesIn, MessagesOut: r.MessagesOut,
				ActiveUsers: r.ActiveUsers, ReturningUsers: r.ReturningUsers, NewUsers: r.NewUsers, Median: med}
			if r.Period.Valid {
				rows = append(rows, row)
			} else {
				all = append(all, row)
			}
		}
		ws, err := q.AnalyticsActiveWindowsHome(ctx, db.AnalyticsActiveWindowsHomeParams{CreatorID: c, ToDay: pgDate(ar.To), Channel: ar.Channel})
		if err != nil {
			return nil, activityTotals{}, err
		}
		for _, w := range ws {
			win = append(win, db.AnalyticsActiveWindowsRow(w))
		}
	} else {
		arg := db.AnalyticsActivityParams{Mode: ar.Mode, Tz: ar.TZ, FromDay: ar.fromDay(), CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel}
		var err error
		if rows, err = q.AnalyticsActivity(ctx, arg); err != nil {
			return nil, activityTotals{}, err
		}
		arg.Mode = "all"
		if all, err = q.AnalyticsActivity(ctx, arg); err != nil {
			return nil, activityTotals{}, err
		}
		win, err = q.AnalyticsActiveWindows(ctx, db.AnalyticsActiveWindowsParams{Tz: ar.TZ, CreatorID: c,
			StartAt: localMidnight(before.Year(), before.Month(), before.Day(), ar.Loc), EndAt: ar.End, Channel: ar.Channel})
		if err != nil {
			return nil, activityTotals{}, err
		}
	}
	by := map[string]db.AnalyticsActivityRow{}
	for _, r := range rows {
		by[dateKey(r.Period)] = r
	}
	out := []activityRow{}
	wi := 0
	var w7, w30 int64
	for _, p := range ar.periods() {
		r := by[p.Format(dateLayout)]
		end := ar.periodEnd(p)
		for wi < len(win) && !win[wi].Day.Time.After(end) {
			w7, w30 = win[wi].Active7d, win[wi].Active30d
			wi++
		}
		out = append(out, activityRow{Period: p.Format(dateLayout), Conversations: r.Conversations, MessagesIn: r.MessagesIn,
			MessagesOut: r.MessagesOut, ActiveUsers: r.ActiveUsers, Active7d: w7, Active30d: w30, NewUsers: r.NewUsers,
			Returning: r.ReturningUsers, Median: r.Median})
	}
	var t activityTotals
	if len(all) == 1 {
		a := all[0]
		t = activityTotals{Conversations: a.Conversations, MessagesIn: a.MessagesIn, MessagesOut: a.MessagesOut,
			ActiveUsers: a.ActiveUsers, NewUsers: a.NewUsers, Returning: a.ReturningUsers, Median: a.Median}
	}
	return out, t, nil
}

// isoWeekday is 1 (Monday) … 7 (Sunday).
func isoWeekday(t time.Time) int {
	if t.Weekday() == time.Sunday {
		return 7
	}
	return int(t.Weekday())
}

// histMedian is percentile_cont(0.5) of a histogram [[value, count], …] in ascending value
// order: the middle value, or the mean of the two middle ones.
func histMedian(raw []byte) (float64, error) {
	var h [][2]int64
	if err := json.Unmarshal(raw, &h); err != nil {
		return 0, fmt.Errorf("analytics: histogram: %w", err)
	}
	var n int64
	for _, b := range h {
		n += b[1]
	}
	if n == 0 {
		return 0, nil
	}
	at := func(i int64) float64 { // the i-th value (0-based) in sorted order
		for _, b := range h {
			if i < b[1] {
				return float64(b[0])
			}
			i -= b[1]
		}
		return 0
	}
	lo, hi := at((n-1)/2), at(n/2)
	return (lo + hi) / 2, nil
}

// Responsiveness.

type responsivenessRow struct {
	Period string `json:"period,omitempty"`
	turnFigures
}

type turnFigures struct {
	Turns           int64  `json:"turns"`
	FirstTokenP50   *int64 `json:"first_token_p50_ms"`
	FirstTokenP95   *int64 `json:"first_token_p95_ms"`
	FinalP50        *int64 `json:"final_reply_p50_ms"`
	FinalP95        *int64 `json:"final_reply_p95_ms"`
	LLMErrors       int64  `json:"llm_errors"`
	PassagesAnswers int64  `json:"passages_answers"`
	DeadLettered    int64  `json:"dead_lettered"`
}

func turnFiguresOf(r db.AnalyticsResponsivenessRow) turnFigures {
	return turnFigures{Turns: r.Turns, FirstTokenP50: ms(r.FirstTokenP50), FirstTokenP95: ms(r.FirstTokenP95),
		FinalP50: ms(r.FinalP50), FinalP95: ms(r.FinalP95), LLMErrors: r.LlmErrors, PassagesAnswers: r.PassagesAnswers, DeadLettered: r.DeadLettered}
}

func analyticsResponsiveness(ctx context.Context, q *db.Queries, c uuid.UUID, ar analyticsRange) ([]responsivenessRow, turnFigures, error) {
	arg := db.AnalyticsResponsivenessParams{Mode: ar.Mode, Tz: ar.TZ, FromDay: ar.fromDay(), CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel}
	var rows []db.AnalyticsResponsivenessRow
	var err error
	if ar.Home {
		hs, herr := q.AnalyticsResponsivenessHome(ctx, db.AnalyticsResponsivenessHomeParams{Mode: ar.Mode, FromDay: ar.fromDay(), ToDay: pgDate(ar.To),
			CreatorID: c, Channel: ar.Channel, Tz: ar.TZ, StartAt: ar.Start, EndAt: ar.End})
		err = herr
		if err == nil {
			var times []db.AnalyticsTurnDayTimesRow
			times, err = q.AnalyticsTurnDayTimes(ctx, db.AnalyticsTurnDayTimesParams{CreatorID: c, FromDay: ar.fromDay(), ToDay: pgDate(ar.To), Channel: ar.Channel})
			pcts := turnPercentiles(ar, times)
			for _, h := range hs {
				r := db.AnalyticsResponsivenessRow(h)
				key := ""
				if r.Period.Valid {
					key = dateKey(r.Period)
				}
				if p, ok := pcts[key]; ok {
					r.FirstTokenP50, r.FirstTokenP95, r.FinalP50, r.FinalP95 = p[0], p[1], p[2], p[3]
				}
				rows = append(rows, r)
			}
		}
	} else {
		rows, err = q.AnalyticsResponsiveness(ctx, arg)
	}
	if err != nil {
		return nil, turnFigures{}, err
	}
	var all []db.AnalyticsResponsivenessRow // the row without a period: the whole range
	by := map[string]db.AnalyticsResponsivenessRow{}
	for _, r := range rows {
		if !r.Period.Valid {
			all = append(all, r)
			continue
		}
		by[dateKey(r.Period)] = r
	}
	out := []responsivenessRow{}
	for _, p := range ar.periods() {
		r, ok := by[p.Format(dateLayout)]
		if !ok {
			r = db.AnalyticsResponsivenessRow{FirstTokenP50: -1, FirstTokenP95: -1, FinalP50: -1, FinalP95: -1}
		}
		out = append(out, responsivenessRow{Period: p.Format(dateLayout), turnFigures: turnFiguresOf(r)})
	}
	tot := turnFiguresOf(db.AnalyticsResponsivenessRow{FirstTokenP50: -1, FirstTokenP95: -1, FinalP50: -1, FinalP95: -1})
	if len(all) == 1 {
		tot = turnFiguresOf(all[0])
	}
	return out, tot, nil
}

// turnPercentiles takes the exact percentiles (percentile_disc: the first value whose
// position reaches the fraction) of the per-day times for each period ("" for the whole
// range): first token p50, p95, final reply p50, p95; -1 where there is no value.
func turnPercentiles(ar analyticsRange, days []db.AnalyticsTurnDayTimesRow) map[string][4]int64 {
	type vals struct{ ft, fin []int64 }
	by := map[string]*vals{"": {}}
	for _, d := range days {
		p := d.Day.Time
		if ar.Mode != "day" {
			p = p.AddDate(0, 0, -(isoWeekday(p) - 1))
			if p.Before(ar.From) {
				p = ar.From
			}
		}
		k := p.Format(dateLayout)
		if by[k] == nil {
			by[k] = &vals{}
		}
		for _, v := range []*vals{by[k], by[""]} {
			v.ft = append(v.ft, d.FirstTokenMs...)
			v.fin = append(v.fin, d.FinalMs...)
		}
	}
	disc := func(xs []int64, f float64) int64 {
		if len(xs) == 0 {
			return -1
		}
		i := int(math.Ceil(f * float64(len(xs))))
		return xs[min(max(i, 1), len(xs))-1]
	}
	out := map[string][4]int64{}
	for k, v := range by {
		slices.Sort(v.ft)
		slices.Sort(v.fin)
		out[k] = [4]int64{disc(v.ft, 0.5), disc(v.ft, 0.95), disc(v.fin, 0.5), disc(v.fin, 0.95)}
	}
	return out
}

// Knowledge gaps.

type gapExample struct {
	ConversationID uuid.UUID `json:"conversation_id"`
	MessageID      uuid.UUID `json:"message_id"`
	At             time.Time `json:"at"`
	Text           string    `json:"text,omitempty"`
}

type gapRow struct {
	Key      string           `json:"key"`
	Question string           `json:"question,omitempty"`
	Count    int64            `json:"count"`
	Reasons  map[string]int64 `json:"reasons"`
	LastAt   time.Time        `json:"last_at"`
	Examples []gapExample     `json:"examples"`
}

type citationRow struct {
	DocumentID uuid.UUID `json:"document_id"`
	Title      string    `json:"title"`
	Section    string    `json:"section"`
	Citations  int64     `json:"citations"`
}

// wholeMonths splits the range for the month rollups (migration 0028): its whole local
// months [from, to) and the instants where they begin and end; without a whole month both
// instants are the range's end (the raw rows cover it all).
func (ar analyticsRange) wholeMonths() (from, to pgtype.Date, midStart, midEnd time.Time) {
	f := time.Date(ar.From.Year(), ar.From.Month(), 1, 0, 0, 0, 0, time.UTC)
	if ar.From.Day() != 1 {
		f = f.AddDate(0, 1, 0)
	}
	next := time.Date(ar.To.Year(), ar.To.Month(), ar.To.Day()+1, 0, 0, 0, 0, time.UTC)
	t := time.Date(next.Year(), next.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !f.Before(t) {
		return pgDate(f), pgDate(f), ar.End, ar.End
	}
	return pgDate(f), pgDate(t), localMidnight(f.Year(), f.Month(), 1, ar.Loc), localMidnight(t.Year(), t.Month(), 1, ar.Loc)
}

func analyticsGaps(ctx context.Context, q *db.Queries, c uuid.UUID, ar analyticsRange, content bool) ([]gapRow, []citationRow, []citationRow, error) {
	var groups []db.AnalyticsGapsRow
	var err error
	mf, mt, midStart, midEnd := ar.wholeMonths()
	if ar.Home {
		var hs []db.AnalyticsGapsHomeRow
		hs, err = q.AnalyticsGapsHome(ctx, db.AnalyticsGapsHomeParams{CreatorID: c, MonthsFrom: mf, MonthsTo: mt, Channel: ar.Channel,
			StartAt: ar.Start, MidStart: midStart, MidEnd: midEnd, EndAt: ar.End})
		for _, h := range hs {
			groups = append(groups, db.AnalyticsGapsRow(h))
		}
	} else {
		groups, err = q.AnalyticsGaps(ctx, db.AnalyticsGapsParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	}
	if err != nil {
		return nil, nil, nil, err
	}
	keys := make([]string, len(groups))
	for i, g := range groups {
		keys[i] = g.Key
	}
	ex, err := q.AnalyticsGapExamples(ctx, db.AnalyticsGapExamplesParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Keys: keys, Channel: ar.Channel})
	if err != nil {
		return nil, nil, nil, err
	}
	exBy := map[string][]gapExample{}
	question := map[string]string{}
	for _, e := range ex {
		if _, ok := question[e.Key]; !ok {
			question[e.Key] = e.Question
		}
		g := gapExample{ConversationID: e.ConversationID, MessageID: e.MessageID, At: e.AskedAt}
		if content {
			g.Text = e.Question
		}
		exBy[e.Key] = append(exBy[e.Key], g)
	}
	gaps := []gapRow{}
	for _, g := range groups {
		row := gapRow{Key: g.Key, Count: g.N, LastAt: g.LastAt, Reasons: map[string]int64{}, Examples: exBy[g.Key]}
		if row.Examples == nil {
			row.Examples = []gapExample{}
		}
		if g.NoPassage > 0 {
			row.Reasons["no_passage"] = g.NoPassage
		}
		if g.Takeover > 0 {
			row.Reasons["takeover"] = g.Takeover
		}
		if content {
			row.Question = question[g.Key] // the newest question of the group
		}
		gaps = append(gaps, row)
	}
	var most []db.AnalyticsMostCitedRow
	if ar.Home {
		var hs []db.AnalyticsMostCitedHomeRow
		hs, err = q.AnalyticsMostCitedHome(ctx, db.AnalyticsMostCitedHomeParams{CreatorID: c, MonthsFrom: mf, MonthsTo: mt, Channel: ar.Channel,
			StartAt: ar.Start, MidStart: midStart, MidEnd: midEnd, EndAt: ar.End})
		for _, h := range hs {
			most = append(most, db.AnalyticsMostCitedRow(h))
		}
	} else {
		most, err = q.AnalyticsMostCited(ctx, db.AnalyticsMostCitedParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	}
	if err != nil {
		return nil, nil, nil, err
	}
	never, err := q.AnalyticsNeverCited(ctx, db.AnalyticsNeverCitedParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	if err != nil {
		return nil, nil, nil, err
	}
	mc := []citationRow{}
	for _, m := range most {
		mc = append(mc, citationRow{DocumentID: m.DocumentID, Title: m.Title, Section: m.Section, Citations: m.Citations})
	}
	nc := []citationRow{}
	for _, n := range never {
		nc = append(nc, citationRow{DocumentID: n.ID, Title: n.Title})
	}
	return gaps, mc, nc, nil
}

// Retention.

type cohortRow struct {
	Cohort string     `json:"cohort"`
	Users  int64      `json:"users"`
	Weeks  []*float64 `json:"weeks"`
	Active []*int64   `json:"active"`
}

func analyticsRetention(ctx context.Context, q *db.Queries, c uuid.UUID, ar analyticsRange) ([]cohortRow, error) {
	sizes, err := q.AnalyticsCohortSizes(ctx, db.AnalyticsCohortSizesParams{Tz: ar.TZ, CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	if err != nil {
		return nil, err
	}
	until := ar.To.AddDate(0, 0, 7*9)
	var weeks []db.AnalyticsCohortWeeksRow
	if ar.Home {
		ws, err := q.AnalyticsCohortWeeksHome(ctx, db.AnalyticsCohortWeeksHomeParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End,
			Channel: ar.Channel})
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			weeks = append(weeks, db.AnalyticsCohortWeeksRow(w))
		}
	} else {
		weeks, err = q.AnalyticsCohortWeeks(ctx, db.AnalyticsCohortWeeksParams{Tz: ar.TZ, CreatorID: c, StartAt: ar.Start, EndAt: ar.End,
			Channel: ar.Channel, Until: localMidnight(until.Year(), until.Month(), until.Day(), ar.Loc)})
		if err != nil {
			return nil, err
		}
	}
	active := map[string]map[int32]int64{}
	for _, w := range weeks {
		k := dateKey(w.Cohort)
		if active[k] == nil {
			active[k] = map[int32]int64{}
		}
		active[k][w.Week] = w.Users
	}
	out := []cohortRow{}
	for _, s := range sizes {
		row := cohortRow{Cohort: dateKey(s.Cohort), Users: s.Users, Weeks: make([]*float64, 8), Active: make([]*int64, 8)}
		for wk := 1; wk <= 8; wk++ {
			if s.Cohort.Time.AddDate(0, 0, 7*wk).After(ar.To) {
				continue // the week has not begun by the range's end
			}
			n := active[row.Cohort][int32(wk)]
			share := 0.0
			if s.Users > 0 {
				share = float64(n) / float64(s.Users)
			}
			row.Weeks[wk-1], row.Active[wk-1] = &share, &n
		}
		out = append(out, row)
	}
	return out, nil
}

// Campaigns.

type campaignCounts struct {
	Audience        int64            `json:"audience"`
	Sent            int64            `json:"sent"`
	Held            int64            `json:"held"`
	Skipped         int64            `json:"skipped"`
	SkippedByReason map[string]int64 `json:"skipped_by_reason"`
	Delivered       int64            `json:"delivered"`
	Read            int64            `json:"read"`
	Replied24h      int64            `json:"replied_24h"`
	OptedOutAfter   int64            `json:"opted_out_after"`
	Failed          int64            `json:"failed"`
	FailedByCode    map[string]int64 `json:"failed_by_code"`
}

func (c *campaignCounts) add(o campaignCounts) {
	c.Audience += o.Audience
	c.Sent += o.Sent
	c.Held += o.Held
	c.Skipped += o.Skipped
	c.Delivered += o.Delivered
	c.Read += o.Read
	c.Replied24h += o.Replied24h
	c.OptedOutAfter += o.OptedOutAfter
	c.Failed += o.Failed
	for k, v := range o.SkippedByReason {
		c.SkippedByReason[k] += v
	}
	for k, v := range o.FailedByCode {
		c.FailedByCode[k] += v
	}
}

type occurrenceRow struct {
	CampaignID   uuid.UUID `json:"campaign_id"`
	CampaignName string    `json:"campaign_name"`
	OccurrenceID uuid.UUID `json:"occurrence_id"`
	ScheduledAt  time.Time `json:"scheduled_at"`
	campaignCounts
}

type campaignRow struct {
	CampaignID   uuid.UUID `json:"campaign_id"`
	CampaignName string    `json:"campaign_name"`
	Occurrences  int64     `json:"occurrences"`
	campaignCounts
}

func analyticsCampaigns(ctx context.Context, q *db.Queries, c uuid.UUID, ar analyticsRange) ([]campaignRow, []occurrenceRow, error) {
	occ, err := q.AnalyticsCampaignOccurrences(ctx, db.AnalyticsCampaignOccurrencesParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	if err != nil {
		return nil, nil, err
	}
	reasons, err := q.AnalyticsCampaignReasons(ctx, db.AnalyticsCampaignReasonsParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End})
	if err != nil {
		return nil, nil, err
	}
	fails, err := q.AnalyticsCampaignFailures(ctx, db.AnalyticsCampaignFailuresParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	if err != nil {
		return nil, nil, err
	}
	skipBy := map[uuid.UUID]map[string]int64{}
	for _, r := range reasons {
		if skipBy[r.OccurrenceID] == nil {
			skipBy[r.OccurrenceID] = map[string]int64{}
		}
		skipBy[r.OccurrenceID][r.Reason] += r.N
	}
	failBy := map[uuid.UUID]map[string]int64{}
	for _, f := range fails {
		if failBy[f.OccurrenceID] == nil {
			failBy[f.OccurrenceID] = map[string]int64{}
		}
		failBy[f.OccurrenceID][f.Code] += f.N
	}
	occs := []occurrenceRow{}
	camps := []campaignRow{}
	idx := map[uuid.UUID]int{}
	for _, o := range occ {
		cc := campaignCounts{Audience: o.Audience, Sent: o.Sent, Held: o.Held, Skipped: o.Skipped, Delivered: o.Delivered, Read: o.Read,
			Replied24h: o.Replied24h, OptedOutAfter: o.OptedOutAfter, Failed: o.Failed,
			SkippedByReason: orEmpty(skipBy[o.OccurrenceID]), FailedByCode: orEmpty(failBy[o.OccurrenceID])}
		occs = append(occs, occurrenceRow{CampaignID: o.CampaignID, CampaignName: o.CampaignName, OccurrenceID: o.OccurrenceID, ScheduledAt: o.ScheduledAt, campaignCounts: cc})
		i, ok := idx[o.CampaignID]
		if !ok {
			i = len(camps)
			idx[o.CampaignID] = i
			camps = append(camps, campaignRow{CampaignID: o.CampaignID, CampaignName: o.CampaignName,
				campaignCounts: campaignCounts{SkippedByReason: map[string]int64{}, FailedByCode: map[string]int64{}}})
		}
		camps[i].Occurrences++
		camps[i].add(cc)
	}
	sort.SliceStable(camps, func(i, j int) bool { return camps[i].CampaignName < camps[j].CampaignName })
	return camps, occs, nil
}

func orEmpty(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// Programs.

type programStepRow struct {
	ProgramID   uuid.UUID        `json:"program_id"`
	ProgramName string           `json:"program_name"`
	Step        int32            `json:"step"`
	Reached     int64            `json:"reached"`
	Sent        int64            `json:"sent"`
	Replied     int64            `json:"replied"`
	Branched    map[string]int64 `json:"branched"`
	Dropped     int64            `json:"dropped"`
	Completed   int64            `json:"completed"`
}

func analyticsPrograms(ctx context.Context, q *db.Queries, c uuid.UUID, ar analyticsRange) ([]programStepRow, error) {
	steps, err := q.AnalyticsProgramSteps(ctx, db.AnalyticsProgramStepsParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	if err != nil {
		return nil, err
	}
	branches, err := q.AnalyticsProgramBranches(ctx, c)
	if err != nil {
		return nil, err
	}
	type key struct {
		p    uuid.UUID
		step int32
	}
	br := map[key]map[string]int64{}
	for _, b := range branches {
		var e struct {
			Step  int32     `json:"step"`
			Event string    `json:"event"`
			At    time.Time `json:"at"`
		}
		if json.Unmarshal(b.Entry, &e) != nil || e.At.Before(ar.Start) || !e.At.Before(ar.End) {
			continue
		}
		k := key{b.ProgramID, e.Step}
		if br[k] == nil {
			br[k] = map[string]int64{}
		}
		_, target, _ := strings.Cut(e.Event, ":")
		br[k][target]++
	}
	out := []programStepRow{}
	for _, s := range steps {
		out = append(out, programStepRow{ProgramID: s.ProgramID, ProgramName: s.ProgramName, Step: s.Step, Reached: s.Reached, Sent: s.Sent,
			Replied: s.Replied, Branched: orEmpty(br[key{s.ProgramID, s.Step}]), Dropped: s.Dropped, Completed: s.Completed})
	}
	return out, nil
}

// Channels.

type channelsRow struct {
	Period           string  `json:"period"`
	OptOuts          int64   `json:"opt_outs"`
	OptIns           int64   `json:"opt_ins"`
	Sends            int64   `json:"sends"`
	WindowClosed     int64   `json:"window_closed"`
	WindowClosedRate float64 `json:"window_closed_rate"`
	ProviderErrors   int64   `json:"provider_errors"`
}

type providerErrorRow struct {
	Channel string `json:"channel"`
	Code    string `json:"code"`
	Count   int64  `json:"count"`
}

func analyticsChannels(ctx context.Context, q *db.Queries, c uuid.UUID, ar analyticsRange) ([]channelsRow, []providerErrorRow, error) {
	rows, err := q.AnalyticsChannelSeries(ctx, db.AnalyticsChannelSeriesParams{Mode: ar.Mode, Tz: ar.TZ, FromDay: ar.fromDay(), CreatorID: c,
		StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel, Home: ar.Home, ToDay: pgDate(ar.To)})
	if err != nil {
		return nil, nil, err
	}
	errs, err := q.AnalyticsChannelErrors(ctx, db.AnalyticsChannelErrorsParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	if err != nil {
		return nil, nil, err
	}
	by := map[string]db.AnalyticsChannelSeriesRow{}
	for _, r := range rows {
		by[dateKey(r.Period)] = r
	}
	out := []channelsRow{}
	for _, p := range ar.periods() {
		r := by[p.Format(dateLayout)]
		rate := 0.0
		if r.WhatsappSends > 0 {
			rate = float64(r.WindowClosed) / float64(r.WhatsappSends)
		}
		out = append(out, channelsRow{Period: p.Format(dateLayout), OptOuts: r.OptOuts, OptIns: r.OptIns, Sends: r.Sends,
			WindowClosed: r.WindowClosed, WindowClosedRate: rate, ProviderErrors: r.ProviderErrors})
	}
	pe := []providerErrorRow{}
	for _, e := range errs {
		pe = append(pe, providerErrorRow{Channel: e.Channel, Code: e.Code, Count: e.N})
	}
	return out, pe, nil
}

// Team.

type teamRow struct {
	Period        string `json:"period"`
	Takeovers     int64  `json:"takeovers"`
	WaitP50       *int64 `json:"time_to_takeover_p50_s"`
	WaitP95       *int64 `json:"time_to_takeover_p95_s"`
	MemberReplies int64  `json:"member_replies"`
}

type teamMemberRow struct {
	UserID    string `json:"user_id"`
	Name      string `json:"name"`
	Takeovers int64  `json:"takeovers"`
	Replies   int64  `json:"replies"`
}

func seconds(v int64) *int64 {
	if v < 0 {
		return nil
	}
	s := v / 1000
	return &s
}

func analyticsTeam(ctx context.Context, q *db.Queries, c uuid.UUID, ar analyticsRange) ([]teamRow, []teamMemberRow, error) {
	rows, err := q.AnalyticsTeamSeries(ctx, db.AnalyticsTeamSeriesParams{Mode: ar.Mode, Tz: ar.TZ, FromDay: ar.fromDay(), CreatorID: c,
		StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	if err != nil {
		return nil, nil, err
	}
	mem, err := q.AnalyticsTeamMembers(ctx, db.AnalyticsTeamMembersParams{CreatorID: c, StartAt: ar.Start, EndAt: ar.End, Channel: ar.Channel})
	if err != nil {
		return nil, nil, err
	}
	by := map[string]db.AnalyticsTeamSeriesRow{}
	for _, r := range rows {
		by[dateKey(r.Period)] = r
	}
	out := []teamRow{}
	for _, p := range ar.periods() {
		r, ok := by[p.Format(dateLayout)]
		if !ok {
			r.WaitP50, r.WaitP95 = -1, -1
		}
		out = append(out, teamRow{Period: p.Format(dateLayout), Takeovers: r.Takeovers, WaitP50: seconds(r.WaitP50), WaitP95: seconds(r.WaitP95), MemberReplies: r.Replies})
	}
	// Members are named by their profile (users are reached through auth_member_profiles, which
	// answers for the workspace's current members only): the name, else the email. A former
	// member keeps their id and no name.
	var names map[uuid.UUID]string
	members := []teamMemberRow{}
	for _, m := range mem {
		row := teamMemberRow{Takeovers: m.Takeovers, Replies: m.Replies}
		if m.UserID.Valid {
			if names == nil {
				profiles, err := q.MemberProfiles(ctx)
				if err != nil {
					return nil, nil, err
				}
				names = make(map[uuid.UUID]string, len(profiles))
				for _, p := range profiles {
					names[p.ID] = cmp.Or(strings.TrimSpace(p.Name), p.Email)
				}
			}
			row.UserID, row.Name = m.UserID.UUID.String(), names[m.UserID.UUID]
		}
		members = append(members, row)
	}
	return out, members, nil
}

// The handlers: one per section, each a JSON object of tables or one of them as CSV.

type analyticsTable struct {
	name string
	rows any // a slice of structs
}

// serveAnalytics runs compute in the creator's tenant and answers JSON (the range echoed plus
// body) or the CSV of one table.
func (s *Server) serveAnalytics(w http.ResponseWriter, r *http.Request, a creatorAuth,
	compute func(ctx context.Context, q *db.Queries, ar analyticsRange) (map[string]any, []analyticsTable, error)) error {
	ctx := r.Context()
	ar, err := s.parseAnalyticsRange(ctx, r, a)
	if err != nil {
		return err
	}
	var (
		body   map[string]any
		tables []analyticsTable
	)
	// The messages queued for the rollups (migration 0027) go in first: the figures include
	// every message committed before the request.
	if _, err := analytics.Apply(ctx, s.Store, a.CreatorID); err != nil {
		return err
	}
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		if err := q.AnalyticsSettings(ctx); err != nil {
			return err
		}
		body, tables, err = compute(ctx, q, ar)
		return err
	}); err != nil {
		return err
	}
	if !ar.CSV {
		body["range"] = ar.echo()
		writeJSON(w, http.StatusOK, body)
		return nil
	}
	t := tables[0]
	if ar.Table != "" {
		found := false
		for _, x := range tables {
			if x.name == ar.Table {
				t, found = x, true
			}
		}
		if !found {
			names := make([]string, len(tables))
			for i, x := range tables {
				names[i] = x.name
			}
			return errBadRequest("bad_query", "table: one of "+strings.Join(names, ", "))
		}
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-%s_%s.csv"`,
		strings.TrimPrefix(r.URL.Path, "/api/v1/analytics/"), t.name, ar.From.Format(dateLayout), ar.To.Format(dateLayout)))
	w.WriteHeader(http.StatusOK)
	return writeCSV(w, t.rows)
}

// writeCSV writes a slice of structs as CSV: a column per JSON field (embedded structs
// flattened), maps as "key=value" pairs joined by ';', lists joined by ';', null as empty.
func writeCSV(w http.ResponseWriter, rows any) error {
	cw := csv.NewWriter(w)
	v := reflect.ValueOf(rows)
	var header []string
	var cols func(t reflect.Type)
	cols = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous {
				cols(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			header = append(header, name)
		}
	}
	cols(v.Type().Elem())
	if err := cw.Write(header); err != nil {
		return err
	}
	for i := 0; i < v.Len(); i++ {
		var rec []string
		var vals func(x reflect.Value)
		vals = func(x reflect.Value) {
			for j := 0; j < x.NumField(); j++ {
				if x.Type().Field(j).Anonymous {
					vals(x.Field(j))
					continue
				}
				rec = append(rec, csvCell(x.Field(j)))
			}
		}
		vals(v.Index(i))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvCell(x reflect.Value) string {
	switch x.Kind() {
	case reflect.Pointer:
		if x.IsNil() {
			return ""
		}
		return csvCell(x.Elem())
	case reflect.Map:
		keys := make([]string, 0, x.Len())
		for _, k := range x.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + csvCell(x.MapIndex(reflect.ValueOf(k)))
		}
		return strings.Join(parts, ";")
	case reflect.Slice:
		parts := make([]string, x.Len())
		for i := range parts {
			e := x.Index(i)
			if e.Kind() == reflect.Struct && e.Type() != reflect.TypeOf(time.Time{}) {
				b, _ := json.Marshal(e.Interface())
				parts[i] = string(b)
				continue
			}
			parts[i] = csvCell(e)
		}
		return strings.Join(parts, ";")
	case reflect.Float64:
		return strconv.FormatFloat(x.Float(), 'f', -1, 64)
	case reflect.Int, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(x.Int(), 10)
	case reflect.String:
		return x.String()
	}
	switch v := x.Interface().(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case uuid.UUID:
		return v.String()
	}
	return fmt.Sprint(x.Interface())
}

func (s *Server) handleAnalyticsActivity(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.serveAnalytics(w, r, a, func(ctx context.Context, q *db.Queries, ar analyticsRange) (map[string]any, []analyticsTable, error) {
		series, totals, err := analyticsActivity(ctx, q, a.CreatorID, ar)
		return map[string]any{"series": series, "totals": totals}, []analyticsTable{{"series", series}}, err
	})
}

func (s *Server) handleAnalyticsResponsiveness(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.serveAnalytics(w, r, a, func(ctx context.Context, q *db.Queries, ar analyticsRange) (map[string]any, []analyticsTable, error) {
		series, totals, err := analyticsResponsiveness(ctx, q, a.CreatorID, ar)
		return map[string]any{"series": series, "totals": totals}, []analyticsTable{{"series", series}}, err
	})
}

func (s *Server) handleAnalyticsKnowledgeGaps(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	content := a.Grant.Allows(perm.ContentRead)
	return s.serveAnalytics(w, r, a, func(ctx context.Context, q *db.Queries, ar analyticsRange) (map[string]any, []analyticsTable, error) {
		gaps, most, never, err := analyticsGaps(ctx, q, a.CreatorID, ar, content)
		docs := append(append([]citationRow{}, most...), never...)
		return map[string]any{"gaps": gaps, "most_cited": most, "never_cited": never},
			[]analyticsTable{{"gaps", gaps}, {"documents", docs}}, err
	})
}

func (s *Server) handleAnalyticsRetention(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.serveAnalytics(w, r, a, func(ctx context.Context, q *db.Queries, ar analyticsRange) (map[string]any, []analyticsTable, error) {
		cohorts, err := analyticsRetention(ctx, q, a.CreatorID, ar)
		return map[string]any{"cohorts": cohorts}, []analyticsTable{{"cohorts", cohorts}}, err
	})
}

func (s *Server) handleAnalyticsCampaigns(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.serveAnalytics(w, r, a, func(ctx context.Context, q *db.Queries, ar analyticsRange) (map[string]any, []analyticsTable, error) {
		camps, occs, err := analyticsCampaigns(ctx, q, a.CreatorID, ar)
		return map[string]any{"campaigns": camps, "occurrences": occs}, []analyticsTable{{"occurrences", occs}, {"campaigns", camps}}, err
	})
}

func (s *Server) handleAnalyticsPrograms(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.serveAnalytics(w, r, a, func(ctx context.Context, q *db.Queries, ar analyticsRange) (map[string]any, []analyticsTable, error) {
		steps, err := analyticsPrograms(ctx, q, a.CreatorID, ar)
		return map[string]any{"steps": steps}, []analyticsTable{{"steps", steps}}, err
	})
}

func (s *Server) handleAnalyticsChannels(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.serveAnalytics(w, r, a, func(ctx context.Context, q *db.Queries, ar analyticsRange) (map[string]any, []analyticsTable, error) {
		series, errs, err := analyticsChannels(ctx, q, a.CreatorID, ar)
		return map[string]any{"series": series, "errors": errs}, []analyticsTable{{"series", series}, {"errors", errs}}, err
	})
}

func (s *Server) handleAnalyticsTeam(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.serveAnalytics(w, r, a, func(ctx context.Context, q *db.Queries, ar analyticsRange) (map[string]any, []analyticsTable, error) {
		series, members, err := analyticsTeam(ctx, q, a.CreatorID, ar)
		return map[string]any{"series": series, "members": members}, []analyticsTable{{"series", series}, {"members", members}}, err
	})
}

// setActingUser names the member acting in a tenant transaction for the team rollup (the
// takeover and reply triggers of migration 0017 read it); an API key names nobody.
func setActingUser(ctx context.Context, q *db.Queries, a creatorAuth) error {
	if a.UserID == uuid.Nil {
		return nil
	}
	return q.SetActingUser(ctx, a.UserID.String())
}
