package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestAnalyticsGapMonthsExact: the knowledge-gaps section in the creator's own zone (whole
// local months from the month rollups of migration 0028, the partial ones from the raw rows)
// gives exactly what the raw path gives for the same zone (asked after the creator's zone moved
// elsewhere), for random ranges across month starts and DST switches, zones with half- and
// quarter-hour offsets, channel filters, questions that are gaps for two reasons (counted once),
// zone changes (the rollups rebuilt) and an erased end user (their questions and citations
// subtracted).
func TestAnalyticsGapMonthsExact(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 280))
	e := newFullEnv(t)
	a := e.c.Register(t)
	store := testenv.Store(t)
	ctx := context.Background()
	zones := analyticsZones
	setZone := func(tz string) { t.Helper(); setCreatorZone(t, store, a.ID, tz) }
	own := zones[1+rng.IntN(len(zones)-1)]
	setZone(own)

	channels := []string{"widget", "whatsapp", "telegram"}
	type person struct {
		id, conv uuid.UUID
		channel  string
	}
	var people []person
	var docs []uuid.UUID
	if err := store.InTenant(ctx, a.ID, func(q *db.Queries) error {
		for i := 0; i < 4; i++ {
			d := uuid.New()
			if _, err := q.InsertDocument(ctx, db.InsertDocumentParams{ID: d, CreatorID: a.ID, Title: fmt.Sprintf("Doc %d", i), Format: "text", Body: "b"}); err != nil {
				return err
			}
			docs = append(docs, d)
		}
		for i := 0; i < 12; i++ {
			p := person{uuid.New(), uuid.New(), channels[i%3]}
			if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: p.id, CreatorID: a.ID, Channel: p.channel, ExternalID: p.id.String()}); err != nil {
				return err
			}
			if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: p.conv, CreatorID: a.ID, EndUserID: p.id, Channel: p.channel}); err != nil {
				return err
			}
			people = append(people, p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		tx, err := store.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		if _, err := tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", a.ID.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Questions near month starts and DST switches (and anywhere), of 9 texts written in
	// several ways; answers without a passage (gaps) or citing a document section.
	anchors := []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 30, 20, 0, 0, 0, time.UTC),
		time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)}
	yearFrom, yearTo := time.Date(2025, 12, 6, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	noPassage := map[int]int{} // questions answered without a passage in the year, per person
	insert := func(n int, near func() time.Time) {
		for i := 0; i < n; i++ {
			who := rng.IntN(len(people))
			p := people[who]
			at := near().Truncate(time.Millisecond)
			text := fmt.Sprintf("How do I do thing %d", rng.IntN(9))
			switch rng.IntN(3) {
			case 0:
				text = strings.ToUpper(text) + "?"
			case 1:
				text = "  " + text + " ?!"
			}
			sources := "[]"
			if rng.IntN(3) > 0 {
				sources = fmt.Sprintf(`[{"document_id":%q,"title":"t","heading":"Section %d"}]`, docs[rng.IntN(len(docs))], rng.IntN(3))
			} else if !at.Before(yearFrom) && at.Before(yearTo) {
				noPassage[who]++
			}
			ask := uuid.New()
			exec(`INSERT INTO messages (id, creator_id, conversation_id, role, body, channel, status, created_at, updated_at)
				VALUES ($1, $2, $3, 'user', $4, $5, 'received', $6, $6)`, ask, a.ID, p.conv, text, p.channel, at)
			exec(`INSERT INTO messages (id, creator_id, conversation_id, role, body, sources, channel, status, reply_to, created_at, updated_at)
				VALUES ($1, $2, $3, 'assistant', 'answer', $4::jsonb, $5, 'generated', $6, $7, $7)`,
				uuid.New(), a.ID, p.conv, sources, p.channel, ask, at.Add(time.Second))
		}
	}
	insert(160, func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(330 * 24 * time.Hour))))
		}
		return anchors[rng.IntN(len(anchors))].Add(time.Duration(rng.IntN(4*24*3600)-2*24*3600) * time.Second)
	})
	// Takeovers right after an answer (questions that are gaps for two reasons, or for one).
	insert(4, time.Now)
	if err := store.InTenant(ctx, a.ID, func(q *db.Queries) error {
		for _, p := range people[:4] {
			if _, err := q.SetConversationStatus(ctx, db.SetConversationStatusParams{ID: p.conv, Status: "human"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	type gapsBody struct {
		Gaps []struct {
			Key     string
			Count   int64
			Reasons map[string]int64
			LastAt  time.Time `json:"last_at"`
		}
		MostCited []struct {
			DocumentID string `json:"document_id"`
			Section    string
			Citations  int64
		} `json:"most_cited"`
	}
	get := func(r analyticsRangeQ) (map[string]string, map[string]int64, int) {
		t.Helper()
		st, _, raw := e.call(t, "GET", "/api/v1/analytics/knowledge-gaps?"+r.query(), a.AccessToken, nil)
		if st != http.StatusOK {
			t.Fatalf("knowledge-gaps: %d %s", st, raw)
		}
		var b gapsBody
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		gaps, cited := map[string]string{}, map[string]int64{}
		var n int
		for _, g := range b.Gaps {
			gaps[g.Key] = fmt.Sprint(g.Count, g.Reasons, g.LastAt.UTC().Format(time.RFC3339Nano))
			n += int(g.Count)
		}
		for _, c := range b.MostCited {
			cited[c.DocumentID+"/"+c.Section] = c.Citations
		}
		return gaps, cited, n
	}
	compare := func(name string, r analyticsRangeQ) {
		t.Helper()
		setZone(r.tz) // the month rollups in this zone
		hg, hc, n := get(r)
		other := "Asia/Tokyo"
		if r.tz == other {
			other = "UTC"
		}
		setZone(other) // the raw rows
		rg, rc, _ := get(r)
		if fmt.Sprint(hg) != fmt.Sprint(rg) || fmt.Sprint(hc) != fmt.Sprint(rc) {
			t.Fatalf("%s %s: own zone\n%v\n%v\nraw\n%v\n%v", name, r.query(), hg, hc, rg, rc)
		}
		t.Logf("%s %s: %d gap questions in %d groups, %d cited sections", name, r.query(), n, len(hg), len(hc))
	}
	for i := 0; i < 6; i++ {
		r := analyticsRangeQ{tz: zones[rng.IntN(len(zones))], gran: "week"}
		r.from = anchors[rng.IntN(len(anchors))].AddDate(0, 0, rng.IntN(5)-2)
		r.from = time.Date(r.from.Year(), r.from.Month(), r.from.Day(), 0, 0, 0, 0, time.UTC)
		if i%2 == 0 {
			r.from = time.Date(2026, time.Month(1+rng.IntN(3)), 1, 0, 0, 0, 0, time.UTC) // a month start
		}
		r.to = r.from.AddDate(0, 0, 20+rng.IntN(320))
		if i == 1 {
			r.to = r.from.AddDate(0, 0, 3) // no whole month
		}
		if rng.IntN(3) == 0 {
			r.channel = channels[rng.IntN(3)]
		}
		compare(fmt.Sprint("range ", i), r)
	}
	year := analyticsRangeQ{tz: own, gran: "week", from: yearFrom, to: yearTo}
	compare("year", year)
	// An erased end user: their questions and citations leave the month rollups. The person
	// erased asked questions the year counts as gaps (the random data may give someone none).
	erased := 0
	for who, n := range noPassage {
		if n > noPassage[erased] {
			erased = who
		}
	}
	setZone(own)
	before, _, nBefore := get(year)
	if err := store.InTenant(ctx, a.ID, func(q *db.Queries) error {
		_, err := q.DeleteEndUser(ctx, people[erased].id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, _, nAfter := get(year)
	if nAfter >= nBefore || len(before) == 0 {
		t.Fatalf("erasure: %d gap questions before, %d after", nBefore, nAfter)
	}
	compare("after the erasure", year)
}
