package httpx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// retryAfterUnavailable is the Retry-After (seconds) of a 503 for a dependency that is down.
const retryAfterUnavailable = "5"

// DependencyUnavailable is the 503 for a request that failed because PostgreSQL or NATS could
// not be reached (or did not answer in time). Nothing the client sent was wrong: the same request
// may be retried. Every write the gateway acknowledges is retry-safe (idempotent ids, content
// hashes), so a retry never duplicates what a failed attempt may have kept.
func DependencyUnavailable(w http.ResponseWriter, err error) error {
	w.Header().Set("Retry-After", retryAfterUnavailable)
	return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: "a service coachwire depends on is unavailable; retry shortly", Err: err}
}

// IsUnavailable reports whether err is a dependency outage rather than a fault in the request
// or in coachwire: a PostgreSQL connection that could not be made or was lost, a server
// shutting down or out of connections, a NATS request that found no server or no answer, or
// a deadline that ran out on the way. A client that went away (context.Canceled) is not one.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && (pgErr.Code[:2] == "08" || pgErr.Code[:2] == "53" || pgErr.Code[:2] == "57"):
			// connection exception, insufficient resources, operator intervention (shutdown,
			// admin termination, statement timeout)
			return true
		case pgErr.Code == "40001" || pgErr.Code == "40P01":
			return true // serialization failure, deadlock: retry
		}
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connErr), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &netErr):
		return true
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return true
	}
	// Any other pgconn transport error (a connection lost mid-transaction is "conn closed", an
	// unexported type that says SafeToRetry false once something was sent) is one too.
	var closed interface{ SafeToRetry() bool }
	return errors.As(err, &closed)
}
