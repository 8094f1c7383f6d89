package analytics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// BenchmarkApplyCost measures analytics' PostgreSQL CPU per turn apart from the rest of the turn
// (docs/analytics.md, "5 December, night"): on one connection, 340 conversations each take a
// turn (a user message, a reply citing three sections and its timing, each in its tenant
// transaction as the gateway and generate write them), then analytics_apply takes the batch;
// 20 rounds, the queueing trigger on for every other one, so the turn transactions' share is
// the difference of alternating rounds. CPU is the backends' own (/proc/<pid>/schedstat,
// PostgreSQL on this machine). Printed, never asserted; not part of make bench. Run:
// go test -run '^$' -bench BenchmarkApplyCost -benchtime 1x ./internal/analytics/
// (COACHWIRE_BENCH_APPLY_CONVERSATIONS: another batch size).
func BenchmarkApplyCost(b *testing.B) {
	ctx := context.Background()
	nconv, rounds := 340, 20
	if v := os.Getenv("COACHWIRE_BENCH_APPLY_CONVERSATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("COACHWIRE_BENCH_APPLY_CONVERSATIONS=%q", v)
		}
		nconv = n
	}
	d := testenv.OwnDatabase(b)
	s := testenv.StoreAt(b, d.AppURL)
	c, convs := seedConversations(b, s, nconv)
	conn := func(url string) *pgx.Conn {
		cn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cn.Close(ctx) })
		return cn
	}
	w, ap, own := conn(d.AppURL), conn(d.AppURL), conn(d.OwnerURL)
	cpu := func(cn *pgx.Conn) time.Duration {
		var pid int
		if err := cn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			b.Fatal(err)
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
		if err != nil {
			b.Skipf("backend CPU time not readable (PostgreSQL not on this machine?): %v", err)
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
		return time.Duration(ns)
	}
	tenant := func(cn *pgx.Conn, fn func(q *db.Queries) error) {
		tx, err := cn.Begin(ctx)
		if err == nil {
			_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", c.String())
		}
		if err == nil {
			err = fn(db.New(tx))
		}
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	doc := uuid.New()
	src, _ := json.Marshal([]map[string]string{{"document_id": doc.String(), "heading": "A"},
		{"document_id": doc.String(), "heading": "B"}, {"document_id": doc.String(), "heading": "C"}})
	var on, off, apply time.Duration
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		verb := map[bool]string{true: "ENABLE", false: "DISABLE"}[r%2 == 0]
		if _, err := own.Exec(ctx, "ALTER TABLE messages "+verb+" TRIGGER analytics_messages_inserted"); err != nil {
			b.Fatal(err)
		}
		w0 := cpu(w)
		for _, conv := range convs {
			ask, reply := uuid.New(), uuid.New()
			tenant(w, func(q *db.Queries) error {
				_, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: ask, CreatorID: c, ConversationID: conv, Role: "user",
					Body: "When should I stop drinking caffeine?", Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"})
				return err
			})
			tenant(w, func(q *db.Queries) error {
				if _, err := q.InsertReply(ctx, db.InsertReplyParams{ID: reply, CreatorID: c, ConversationID: conv,
					Body: "Stop caffeine eight hours before bed.", Sources: src, ReplyTo: uuid.NullUUID{UUID: ask, Valid: true},
					Channel: "widget", Status: "generated", Covers: []uuid.UUID{ask}}); err != nil {
					return err
				}
				ft := int64(7)
				return q.RecordTurnTiming(ctx, db.RecordTurnTimingParams{ReplyID: reply, FirstTokenMs: &ft, Mode: "ollama"})
			})
		}
		if r%2 == 0 {
			on += cpu(w) - w0
		} else {
			off += cpu(w) - w0
		}
		a0 := cpu(ap)
		tenant(ap, func(q *db.Queries) error {
			_, err := q.AnalyticsApply(ctx, db.AnalyticsApplyParams{CreatorID: c, MaxRows: 100000})
			return err
		})
		apply += cpu(ap) - a0
	}
	b.StopTimer()
	if _, err := own.Exec(ctx, "ALTER TABLE messages ENABLE TRIGGER analytics_messages_inserted"); err != nil {
		b.Fatal(err)
	}
	perTurn := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(nconv*rounds/2) }
	out := fmt.Sprintf("analytics' PostgreSQL CPU per turn (%d conversations, batches of %d turns, %d rounds): turn transactions %.3f ms (%.3f with the queue, %.3f without), analytics_apply %.3f ms, in all %.3f ms\n",
		nconv, nconv, rounds, perTurn(on-off), perTurn(on), perTurn(off), perTurn(apply), perTurn(on-off+apply))
	b.ReportMetric(perTurn(on-off), "turn-ms/turn")
	b.ReportMetric(perTurn(apply), "apply-ms/turn")
	b.ReportMetric(0, "ns/op")
	fmt.Print(out)
	b.Log(out)
}
