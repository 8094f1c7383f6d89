package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/storage"
	"github.com/coachwire/coachwire/internal/testenv"
)

// analyticsScale is the generated history of BenchmarkAnalytics (issue 12): the measured
// creator and Others creators of Fraction its size, in one database. Environment:
// COACHWIRE_BENCH_ANALYTICS_{MESSAGES,USERS,CAMPAIGNS,PROGRAMS,OTHERS,FRACTION,SAMPLES}.
// The default is the setup: 20 neighbours of the same size (21 million messages). At
// Fraction 1 the neighbours are copies of the measured creator under new ids (cloneNeighbours),
// and the whole database is cached between runs (openAnalyticsCache).
type analyticsScale struct {
	Messages, Users, Campaigns, Programs, Others, Samples int
	Fraction                                              float64
}

func readAnalyticsScale(b *testing.B) analyticsScale {
	s := analyticsScale{Messages: 1_000_000, Users: 50_000, Campaigns: 100, Programs: 20, Others: 20, Samples: 20, Fraction: 1}
	for name, p := range map[string]*int{"MESSAGES": &s.Messages, "USERS": &s.Users, "CAMPAIGNS": &s.Campaigns, "PROGRAMS": &s.Programs,
		"OTHERS": &s.Others, "SAMPLES": &s.Samples} {
		if v := os.Getenv("COACHWIRE_BENCH_ANALYTICS_" + name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				b.Fatalf("COACHWIRE_BENCH_ANALYTICS_%s=%q", name, v)
			}
			*p = n
		}
	}
	if v := os.Getenv("COACHWIRE_BENCH_ANALYTICS_FRACTION"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			b.Fatalf("COACHWIRE_BENCH_ANALYTICS_FRACTION=%q", v)
		}
		s.Fraction = f
	}
	return s
}

// generateHistory writes a creator's 12 months set-based (generate_series, one statement per
// table, no trigger firing; the rollups filled in one pass each): end
// users on three channels, a conversation each (activity skewed towards a few), question /
// reply pairs (a fifth without a cited passage: knowledge gaps from 500 question texts; the
// rest citing one of 50 documents), campaigns with monthly occurrences of 100 recipients,
// programs of 5 steps, opt-outs, failed sends and takeovers.
func generateHistory(ctx context.Context, tx pgx.Tx, c uuid.UUID, messages, users, campaigns, programs int) error {
	users = max(users, 10)
	nudgesPer := 100
	occs := campaigns * 12
	nudges := min(occs*nudgesPer, messages/5)
	pairs := max(1, (messages-nudges)/2)
	stmts := []string{
		`SELECT set_config('app.creator_id', $1::text, true)`,
		// Bulk load: no trigger fires in this transaction (foreign key checks, numbering, the
		// inbox terms, the analytics queue); every rollup is filled below in one pass per table.
		`SET LOCAL session_replication_role = replica`,
		// The creator's own zone: the dashboard's default, read by the per-day rollup.
		`UPDATE creators SET timezone = 'Europe/Berlin' WHERE id = $1`,
		`INSERT INTO end_users (id, person_id, creator_id, channel, external_id, created_at)
		 SELECT id, id, $1, ch, 'u' || i, now() - interval '365 days'
		 FROM (SELECT gen_random_uuid() AS id, (ARRAY['widget','whatsapp','telegram'])[1 + i % 3] AS ch, i FROM generate_series(1, $2::int) i) g`,
		`CREATE TEMP TABLE eu ON COMMIT DROP AS
		 SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, channel FROM end_users WHERE creator_id = $1`,
		`INSERT INTO conversations (id, creator_id, end_user_id, channel) SELECT gen_random_uuid(), $1, id, channel FROM eu`,
		`CREATE TEMP TABLE cv ON COMMIT DROP AS
		 SELECT eu.n, c.id, c.channel FROM eu JOIN conversations c ON c.end_user_id = eu.id`,
		`CREATE INDEX ON cv (n)`,
		`INSERT INTO documents (id, creator_id, title, format, body, status)
		 SELECT gen_random_uuid(), $1, 'Document ' || i, 'text', 'body', 'indexed' FROM generate_series(1, 50) i`,
		`CREATE TEMP TABLE docs ON COMMIT DROP AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM documents WHERE creator_id = $1`,
		// Questions at random times over 12 months, by users skewed towards the active few.
		`CREATE TEMP TABLE q ON COMMIT DROP AS
		 SELECT gen_random_uuid() AS id, gen_random_uuid() AS reply, floor(power(random(), 2) * $2::int)::bigint AS n,
		        now() - random() * interval '365 days' AS at, (random() * 499)::int AS text_n, random() AS r
		 FROM generate_series(1, $3::int)`,
		// Campaigns: monthly occurrences, 100 recipients each, a nudge message per sent decision.
		`INSERT INTO campaigns (id, creator_id, name, content, schedule)
		 SELECT gen_random_uuid(), $1, 'Campaign ' || i, '{"text":"hi"}', '{}' FROM generate_series(1, $4::int) i`,
		`CREATE TEMP TABLE occ ON COMMIT DROP AS
		 SELECT gen_random_uuid() AS id, c.id AS campaign_id, row_number() OVER () AS k, now() - (m * interval '30 days') - random() * interval '1 day' AS at
		 FROM campaigns c, generate_series(0, 11) m WHERE c.creator_id = $1`,
		`INSERT INTO campaign_occurrences (id, creator_id, campaign_id, scheduled_at, status, targeted)
		 SELECT id, $1, campaign_id, at, 'expanded', 100 FROM occ`,
		`CREATE TEMP TABLE nd ON COMMIT DROP AS
		 SELECT occ.id AS occ, occ.campaign_id, eu.id AS end_user_id, cv.id AS conv, cv.channel, occ.at, gen_random_uuid() AS msg, random() AS r
		 FROM occ CROSS JOIN generate_series(0, 99) j
		 JOIN eu ON eu.n = (occ.k * 100 + j) % $2::int JOIN cv ON cv.n = eu.n
		 LIMIT $5::int`,
		// Every message of the history in one insert, numbered per conversation here: the bulk
		// insert skips the per-row numbering trigger (a conversation row update per message) and
		// the per-statement rollup trigger; the rollups are then filled in one pass per table, as
		// migration 0017's backfill does (the trigger's own cost is what BenchmarkTurnOverhead with
		// and without COACHWIRE_BENCH_NO_ROLLUP shows).
		`CREATE TEMP TABLE allm ON COMMIT DROP AS
		 SELECT q.id, cv.id AS conv, 'user' AS role, 'Question number ' || q.text_n || '?' AS body, '[]'::jsonb AS sources,
		        NULL::uuid AS reply_to, cv.channel, 'received' AS status, '' AS error_code, q.at AS created_at, q.at AS updated_at
		 FROM q JOIN cv ON cv.n = q.n
		 UNION ALL
		 SELECT q.reply, cv.id, 'assistant', 'Answer',
		        CASE WHEN q.r < 0.2 THEN '[]'::jsonb
		             ELSE jsonb_build_array(jsonb_build_object('document_id', docs.id, 'title', 't', 'heading', 'Section ' || (q.text_n % 7))) END,
		        q.id, cv.channel, CASE WHEN q.r > 0.98 THEN 'llm_error' ELSE 'generated' END, '',
		        q.at + (0.5 + random() * 20) * interval '1 second', q.at
		 FROM q JOIN cv ON cv.n = q.n JOIN docs ON docs.n = q.text_n % 45
		 UNION ALL
		 SELECT msg, conv, 'assistant', 'Nudge', '[]'::jsonb, NULL, channel,
		        CASE WHEN r < 0.15 THEN 'failed' WHEN r < 0.55 THEN 'read' ELSE 'delivered' END, CASE WHEN r < 0.15 THEN '131047' ELSE '' END, at, at
		 FROM nd WHERE r >= 0.1`,
		`INSERT INTO messages (id, creator_id, conversation_id, role, body, sources, reply_to, channel, status, error_code, created_at, updated_at, seq)
		 SELECT id, $1, conv, role, body, sources, reply_to, channel, status, error_code, created_at, updated_at,
		        row_number() OVER (PARTITION BY conv ORDER BY created_at, role DESC)
		 FROM allm`,
		`UPDATE conversations c SET last_seq = m.n, answered_seq = m.n
		 FROM (SELECT conv, count(*) AS n FROM allm GROUP BY 1) m WHERE c.id = m.conv`,
		`INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, campaign_id, status, reason, message_id, decided_at)
		 SELECT occ, end_user_id, $1, campaign_id, CASE WHEN r < 0.1 THEN 'skipped' ELSE 'sent' END,
		        CASE WHEN r < 0.05 THEN 'capped' WHEN r < 0.1 THEN 'opted_out' ELSE '' END, CASE WHEN r >= 0.1 THEN msg END, at
		 FROM nd`,
		// The planner must know the new rows before the one-pass fills (it would take the
		// million rows of this transaction for none).
		`ANALYZE messages, conversations, end_users, nudge_deliveries, campaign_occurrences`,
		`INSERT INTO analytics_activity (creator_id, conversation_id, end_user_id, channel, bucket, messages_in, messages_out)
		 SELECT m.creator_id, m.conversation_id, c.end_user_id, c.channel, date_bin('15 minutes', m.created_at, 'epoch'),
		        count(*) FILTER (WHERE m.role = 'user'), count(*) FILTER (WHERE m.role IN ('assistant', 'creator'))
		 FROM messages m JOIN conversations c ON c.id = m.conversation_id
		 WHERE m.creator_id = $1 AND m.role IN ('user', 'assistant', 'creator') GROUP BY 1, 2, 3, 4, 5`,
		`INSERT INTO analytics_days (creator_id, day, conversation_id, end_user_id, channel, messages_in, messages_out)
		 SELECT a.creator_id, (a.bucket AT TIME ZONE cr.timezone)::date, a.conversation_id, a.end_user_id, a.channel, sum(a.messages_in), sum(a.messages_out)
		 FROM analytics_activity a JOIN creators cr ON cr.id = a.creator_id WHERE a.creator_id = $1 GROUP BY 1, 2, 3, 4, 5`,
		`INSERT INTO analytics_first_contact (end_user_id, creator_id, channel, first_at)
		 SELECT c.end_user_id, m.creator_id, min(c.channel), min(m.created_at)
		 FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.creator_id = $1 AND m.role = 'user' GROUP BY 1, 2`,
		`INSERT INTO analytics_turns (reply_id, creator_id, conversation_id, channel, asked_at, final_ms, first_token_ms, mode, status)
		 SELECT n.id, n.creator_id, n.conversation_id, n.channel, u.created_at,
		        greatest(0, floor(extract(epoch FROM n.created_at - u.created_at) * 1000))::bigint,
		        (greatest(0, floor(extract(epoch FROM n.created_at - u.created_at) * 1000)) * 0.3)::bigint, 'ollama', n.status
		 FROM messages n JOIN messages u ON u.id = n.reply_to AND u.role = 'user' WHERE n.creator_id = $1 AND n.role = 'assistant'`,
		// The creator's own-zone rollups of migration 0027, from the per-day ones above.
		`ANALYZE analytics_days, analytics_first_contact, analytics_turns`,
		`SELECT analytics_rebuild_home($1)`,
		`ANALYZE analytics_activity`,
		`INSERT INTO analytics_gaps (message_id, reason, creator_id, conversation_id, channel, asked_at, key, question)
		 SELECT u.id, 'no_passage', n.creator_id, n.conversation_id, n.channel, u.created_at, analytics_question_key(u.body), u.body
		 FROM messages n JOIN messages u ON u.id = n.reply_to AND u.role = 'user'
		 WHERE n.creator_id = $1 AND n.role = 'assistant' AND n.sources = '[]'::jsonb`,
		`INSERT INTO analytics_citations (reply_id, document_id, section, creator_id, channel, at)
		 SELECT DISTINCT n.id, (s->>'document_id')::uuid, coalesce(s->>'heading', ''), n.creator_id, n.channel, n.created_at
		 FROM messages n, jsonb_array_elements(n.sources) s WHERE n.creator_id = $1 AND n.role = 'assistant' AND s ? 'document_id'`,
		`INSERT INTO analytics_sends (message_id, creator_id, conversation_id, channel, sent_at, status, error_code, replied)
		 SELECT n.id, n.creator_id, n.conversation_id, n.channel, n.created_at, n.status, n.error_code,
		        EXISTS (SELECT 1 FROM messages u WHERE u.creator_id = n.creator_id AND u.conversation_id = n.conversation_id AND u.role = 'user'
		                  AND u.created_at >= n.created_at AND u.created_at < n.created_at + interval '24 hours')
		 FROM messages n WHERE n.creator_id = $1 AND n.role = 'assistant' AND n.reply_to IS NULL`,
		// The campaign rollup of migration 0028, from the decisions and sends above.
		`SELECT analytics_campaign_rebuild($1)`,
		// The knowledge gap and citation month rollups of migration 0028, from the rows above.
		`SELECT analytics_month_rebuild($1)`,
		`INSERT INTO analytics_channel_events (creator_id, channel, kind, code, at)
		 SELECT creator_id, channel, 'failed', error_code, updated_at FROM messages WHERE creator_id = $1 AND status = 'failed'`,
		// Programs: 5 steps, 500 enrollments each, a decision per step reached.
		`INSERT INTO programs (id, creator_id, name, steps)
		 SELECT gen_random_uuid(), $1, 'Program ' || i, '[{"content":{"text":"a"}},{"content":{"text":"b"}},{"content":{"text":"c"}},{"content":{"text":"d"}},{"content":{"text":"e"}}]'
		 FROM generate_series(1, $6::int) i`,
		`INSERT INTO program_enrollments (id, creator_id, program_id, end_user_id, status, next_step, enrolled_at, last_step)
		 SELECT gen_random_uuid(), $1, p.id, eu.id, CASE WHEN random() < 0.5 THEN 'completed' ELSE 'cancelled' END, 5,
		        now() - random() * interval '360 days', (random() * 4)::int
		 FROM (SELECT id, row_number() OVER () AS k FROM programs WHERE creator_id = $1) p
		 CROSS JOIN generate_series(0, 499) j JOIN eu ON eu.n = (p.k * 977 + j) % $2::int
		 ON CONFLICT DO NOTHING`,
		`INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, enrollment_id, status, decided_at, step)
		 SELECT gen_random_uuid(), pe.end_user_id, $1, pe.id, 'sent', pe.enrolled_at + s * interval '1 day', s
		 FROM program_enrollments pe, generate_series(0, 4) s WHERE pe.creator_id = $1 AND s <= pe.last_step`,
		// Opt-outs, takeovers (through their row triggers, like the application's updates).
		`SET LOCAL session_replication_role = origin`,
		`UPDATE end_users SET opted_out_at = now() - random() * interval '365 days' WHERE creator_id = $1 AND random() < 0.02`,
		`UPDATE conversations SET status = 'human' WHERE creator_id = $1 AND random() < 0.01`,
	}
	sizes := strings.NewReplacer("$2::int", strconv.Itoa(users), "$3::int", strconv.Itoa(pairs), "$4::int", strconv.Itoa(campaigns),
		"$5::int", strconv.Itoa(nudges), "$6::int", strconv.Itoa(programs))
	for i, s := range stmts {
		s = sizes.Replace(s)
		var args []any
		if strings.Contains(s, "$1") {
			args = []any{c.String()}
		}
		if _, err := tx.Exec(ctx, s, args...); err != nil {
			return fmt.Errorf("statement %d: %w", i, err)
		}
	}
	return nil
}

// BenchmarkAnalytics prints the p95 of every analytics endpoint for a 30-day and a 12-month
// range, for a creator with COACHWIRE_BENCH_ANALYTICS_MESSAGES messages (default 1,000,000),
// 50,000 end users, 100 campaigns and 20 programs over 12 months, next to 20 other creators of
// similar size in the same database, through the HTTP API (auth, routing, JSON). Nothing is
// asserted.
func BenchmarkAnalytics(b *testing.B) {
	sc := readAnalyticsScale(b)
	ctx := context.Background()
	// The generated database comes from the cache when a run of this scale, schema and
	// generator made one (analytics_cache_test.go).
	cache := openAnalyticsCache(b, sc)
	d := testenv.DB{OwnerURL: cache.PG.OwnerURL(), AppURL: cache.PG.AppURL(), SuperURL: cache.PG.SuperURL()}
	dir := b.TempDir()
	svc, err := auth.New(auth.Options{KeyFile: dir + "/jwt.json", Issuer: "http://bench", BcryptCost: 4})
	if err != nil {
		b.Fatal(err)
	}
	keys, err := secrets.Load("", dir)
	if err != nil {
		b.Fatal(err)
	}
	files, err := storage.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	srv := gateway.New(gateway.Deps{Config: &gateway.Settings{PublicURL: "http://bench",
		Limits: config.Limits{RegistrationsPerIP: config.Rate{N: -1}}}, Files: files, Store: testenv.StoreAt(b, d.AppURL),
		Bus: testenv.Bus(b), Auth: svc, Keys: keys, Log: slog.New(slog.DiscardHandler)})
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)
	b.Cleanup(srv.Shutdown)
	c := testenv.NewClient(ts.URL)

	owner, err := pgx.Connect(ctx, d.OwnerURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { owner.Close(ctx) })
	// measure asks every section Samples+1 times per range and returns the p50/p95 table, with
	// the reference query and the load average before and after.
	measure := func(me testenv.Creator, msgs int64, others int) string {
		// What this machine gives a query now: a CPU-bound reference (about 60 ms on an idle core)
		// and the load average, printed with the table (the machine may be shared).
		reference := func() string {
			t0 := time.Now()
			if _, err := owner.Exec(ctx, "SELECT count(*) FROM generate_series(1, 1000000)"); err != nil {
				b.Fatal(err)
			}
			load, _ := os.ReadFile("/proc/loadavg")
			return fmt.Sprintf("reference query (count of 1M) %.0f ms, load average %s", Ms(time.Since(t0)), strings.Join(strings.Fields(string(load))[:3], " "))
		}
		var sb strings.Builder
		// Generating takes longer than an access token lives: sign in again.
		var login struct {
			AccessToken string `json:"access_token"`
		}
		if st, raw, err := c.Do(ctx, "POST", "/api/v1/auth/login", "", map[string]string{"email": me.Email, "password": "correct horse battery"}, &login); err != nil ||
			st != http.StatusOK || login.AccessToken == "" {
			b.Fatalf("login: %d %v %s", st, err, raw)
		}
		me.AccessToken = login.AccessToken
		sb.WriteString("before: " + reference() + "\n")
		sections := []string{"activity", "responsiveness", "knowledge-gaps", "retention", "campaigns", "programs", "channels", "team"}
		today := time.Now().UTC()
		ranges := []struct {
			name, q string
		}{
			{"30 days", fmt.Sprintf("from=%s&to=%s&tz=Europe/Berlin", today.AddDate(0, 0, -29).Format("2006-01-02"), today.Format("2006-01-02"))},
			{"12 months", fmt.Sprintf("from=%s&to=%s&tz=Europe/Berlin&granularity=week", today.AddDate(-1, 0, 1).Format("2006-01-02"), today.Format("2006-01-02"))},
		}
		fmt.Fprintf(&sb, "analytics endpoints, %d requests each (creator: %d messages; %d others ×%.2f)\n%-16s %12s %12s %12s %12s\n",
			sc.Samples, msgs, others, sc.Fraction, "endpoint", "30d p50-ms", "30d p95-ms", "12mo p50-ms", "12mo p95-ms")
		for _, sec := range sections {
			fmt.Fprintf(&sb, "%-16s", sec)
			for _, r := range ranges {
				var lat []time.Duration
				for i := 0; i < sc.Samples+1; i++ {
					req, _ := http.NewRequest("GET", ts.URL+"/api/v1/analytics/"+sec+"?"+r.q, nil)
					req.Header.Set("Authorization", "Bearer "+me.AccessToken)
					t0 := time.Now()
					res, err := ts.Client().Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Fatalf("%s %s: %d", sec, r.name, res.StatusCode)
					}
					if i > 0 { // the first warms the caches
						lat = append(lat, time.Since(t0))
					}
				}
				slices.Sort(lat)
				fmt.Fprintf(&sb, " %12.1f %12.1f", Ms(lat[len(lat)/2]), Ms(lat[min(len(lat)-1, int(float64(len(lat))*0.95))]))
			}
			sb.WriteString("\n")
		}
		sb.WriteString("after:  " + reference() + "\n")
		return sb.String()
	}
	if cache.Hit {
		m := cache.Meta
		b.Logf("generated database from the cache %s (%.1f GB, made %s: creator %s, neighbours %s, vacuum %s, all %s): started in %s",
			cache.Dir, float64(m.Bytes)/1e9, m.Created.Format(time.RFC3339), m.Generate, m.Neighbour, m.Vacuum, m.Total, cache.Started.Round(10*time.Millisecond))
	} else {
		gen := func(id uuid.UUID, f float64) time.Duration {
			start := time.Now()
			tx, err := owner.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := generateHistory(ctx, tx, id, int(float64(sc.Messages)*f), int(float64(sc.Users)*f), int(float64(sc.Campaigns)*f),
				int(float64(sc.Programs)*f)); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		others := make([]uuid.UUID, sc.Others)
		for i := range others {
			others[i] = c.Register(b).ID
		}
		me := c.Register(b)
		start := time.Now()
		took := gen(me.ID, 1)
		b.Logf("generated the measured creator in %s", took.Round(time.Second))
		t0 := time.Now()
		made := sc.Others
		super, err := pgx.Connect(ctx, superInDB(cache.PG))
		if err != nil {
			b.Fatal(err)
		}
		defer super.Close(ctx)
		if sc.Fraction == 1 {
			// Neighbours of the same size: copies of the measured creator's rows under new ids,
			// two at a time, far quicker than generating each.
			if _, err := owner.Exec(ctx, "ANALYZE"); err != nil {
				b.Fatal(err)
			}
			// COACHWIRE_BENCH_ANALYTICS_ALSO=k: on the way, with k neighbours cloned, vacuum and
			// print the table too (what the neighbours change, in the same run's conditions).
			rest := others
			if v := os.Getenv("COACHWIRE_BENCH_ANALYTICS_ALSO"); v != "" {
				k, err := strconv.Atoi(v)
				if err != nil || k < 0 || k >= len(others) {
					b.Fatalf("COACHWIRE_BENCH_ANALYTICS_ALSO=%q", v)
				}
				if _, err := cloneNeighbours(ctx, superInDB(cache.PG), cache.DataDir, me.ID, others[:k], 2, b.Logf); err != nil {
					b.Fatal(err)
				}
				if err := execAs(ctx, superInDB(cache.PG), "VACUUM ANALYZE"); err != nil {
					b.Fatal(err)
				}
				var msgs int64
				if err := super.QueryRow(ctx, "SELECT count(*) FROM messages WHERE creator_id = $1", me.ID).Scan(&msgs); err != nil {
					b.Fatal(err)
				}
				out := "\n" + measure(me, msgs, k)
				fmt.Print(out)
				b.Log(out)
				rest = others[k:]
			}
			n, err := cloneNeighbours(ctx, superInDB(cache.PG), cache.DataDir, me.ID, rest, 2, b.Logf)
			if err != nil {
				b.Fatal(err)
			}
			made = len(others) - len(rest) + n
		} else {
			for _, id := range others {
				gen(id, sc.Fraction)
			}
		}
		neighbours := time.Since(t0)
		var msgs, rollup int64
		tx, _ := owner.Begin(ctx)
		_, _ = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", me.ID.String())
		_ = tx.QueryRow(ctx, "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM analytics_activity)").Scan(&msgs, &rollup)
		_ = tx.Rollback(ctx)
		cache.finish(b, analyticsMeta{Creator: me.ID, Email: me.Email, Messages: msgs, Rollup: rollup,
			Generate: took.Round(time.Second).String(), Neighbour: neighbours.Round(time.Second).String(), Others: made}, time.Since(start))
		m := cache.Meta
		b.Logf("generated: creator with %d messages (%d activity rollup rows) in %s; %d other creators at %.2f× its size in %s; vacuum %s; all in %s; %.1f GB (%s)",
			msgs, rollup, m.Generate, m.Others, sc.Fraction, m.Neighbour, m.Vacuum, m.Total, float64(m.Bytes)/1e9, cache.Dir)
	}
	me := testenv.Creator{ID: cache.Meta.Creator, Email: cache.Meta.Email}
	msgs := cache.Meta.Messages

	// COACHWIRE_BENCH_ANALYTICS_HOLD=<duration>: keep the generated database up that long after
	// generating, for EXPLAIN in psql (the URLs are printed).
	if v := os.Getenv("COACHWIRE_BENCH_ANALYTICS_HOLD"); v != "" {
		hold, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("COACHWIRE_BENCH_ANALYTICS_HOLD=%q", v)
		}
		fmt.Printf("holding %s: creator %s\nowner %s\napp %s\n", hold, me.ID, d.OwnerURL, d.AppURL)
		time.Sleep(hold)
	}

	source := "generated now"
	if cache.Hit {
		source = fmt.Sprintf("from the cache, started in %s", cache.Started.Round(10*time.Millisecond))
	}
	out := "\n" + measure(me, msgs, cache.Meta.Others) + fmt.Sprintf("database %s (%.1f GB): creator %s, %d neighbours %s, vacuum %s, all %s\n", source,
		float64(cache.Meta.Bytes)/1e9, cache.Meta.Generate, cache.Meta.Others, cache.Meta.Neighbour, cache.Meta.Vacuum, cache.Meta.Total)
	b.ReportMetric(0, "ns/op")
	fmt.Print(out)
	b.Log(out)
}

// noRollup disables the analytics triggers of migrations 0017 and 0027 on the bench database
// (COACHWIRE_BENCH_NO_ROLLUP=1 on BenchmarkTurnOverhead): the turn path as it was without
// analytics, for comparison. Re-enabled when the benchmark ends.
func noRollup(b *testing.B, ownerURL string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	const off = `ALTER TABLE messages DISABLE TRIGGER analytics_messages_inserted;
		ALTER TABLE messages DISABLE TRIGGER analytics_message_failed;
		ALTER TABLE messages DISABLE TRIGGER analytics_send_status;
		ALTER TABLE conversations DISABLE TRIGGER analytics_takeover;
		ALTER TABLE end_users DISABLE TRIGGER analytics_opt_changed`
	if _, err := conn.Exec(ctx, off); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c, err := pgx.Connect(ctx, ownerURL)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, strings.ReplaceAll(off, "DISABLE", "ENABLE"))
	})
	b.Log("analytics rollup triggers disabled (COACHWIRE_BENCH_NO_ROLLUP)")
}

// noRollupWorker keeps the queueing trigger but stops the rollup worker's work
// (COACHWIRE_BENCH_NO_ROLLUP=worker on BenchmarkTurnOverhead): analytics_apply may not be
// called, so the figures are the turn transactions' own share (the queue row per message).
// Granted again when the benchmark ends.
func noRollupWorker(b *testing.B, ownerURL string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "REVOKE EXECUTE ON FUNCTION analytics_apply(uuid, integer) FROM PUBLIC"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c, err := pgx.Connect(ctx, ownerURL)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "GRANT EXECUTE ON FUNCTION analytics_apply(uuid, integer) TO PUBLIC")
	})
	b.Log("analytics rollup worker stopped (COACHWIRE_BENCH_NO_ROLLUP=worker): messages are queued, not applied")
}
