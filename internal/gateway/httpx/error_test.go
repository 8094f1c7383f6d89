package httpx

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestWriteErrorMapsForeignKeyViolation: a foreign key violation that reaches the error
// mapping (a reference deleted between a handler's check and its write) is the client's
// reference, answered 422 invalid_reference, never a 500.
func TestWriteErrorMapsForeignKeyViolation(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	err := fmt.Errorf("insert enrollment: %w", &pgconn.PgError{Code: "23503", ConstraintName: "program_enrollments_program_fkey"})
	WriteError(rec, httptest.NewRequest("POST", "/api/v1/programs/x/enrollments", nil), slog.New(slog.DiscardHandler), err)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 422 || body.Error.Code != "invalid_reference" {
		t.Fatalf("foreign key violation answered %d %+v, want 422 invalid_reference", rec.Code, body.Error)
	}
}
