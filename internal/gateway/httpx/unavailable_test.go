package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestWriteErrorDependencyUnavailable: what PostgreSQL and NATS outages look like to a handler
// is answered 503 unavailable with Retry-After; request faults and bugs keep their answers.
func TestWriteErrorDependencyUnavailable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"publish timeout", fmt.Errorf("bus: publish cw.x.ingest: %w", context.DeadlineExceeded), 503},
		{"no stream response", fmt.Errorf("bus: publish: %w", jetstream.ErrNoStreamResponse), 503},
		{"nats closed", fmt.Errorf("bus: publish: %w", nats.ErrConnectionClosed), 503},
		{"pg admin shutdown", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "57P01"}), 503},
		{"pg too many connections", &pgconn.PgError{Code: "53300"}, 503},
		{"pg connection lost", fmt.Errorf("db: begin tenant transaction: %w", io.ErrUnexpectedEOF), 503},
		{"pg unique violation", &pgconn.PgError{Code: "23505"}, 500},
		{"pg syntax error", &pgconn.PgError{Code: "42601"}, 500},
		{"a bug", errors.New("something else"), 500},
		{"client gone", fmt.Errorf("publish: %w", context.Canceled), 500},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest("POST", "/api/v1/documents", nil), slog.New(slog.DiscardHandler), c.err)
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rec.Code != c.want {
			t.Errorf("%s: %d %+v, want %d", c.name, rec.Code, body.Error, c.want)
			continue
		}
		if c.want == 503 && (body.Error.Code != "unavailable" || rec.Header().Get("Retry-After") == "") {
			t.Errorf("%s: %+v Retry-After %q, want unavailable with Retry-After", c.name, body.Error, rec.Header().Get("Retry-After"))
		}
	}
}
