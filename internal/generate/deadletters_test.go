package generate_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/generate"
)

// A dead-lettered turn (its message or turn request moved to CW_DLQ, as the bus does) is
// recorded once for analytics, by channel and the event's time; other dead letters are not.
func TestDeadTurnsRecorded(t *testing.T) {
	t.Parallel()
	r := newRig(t, "")
	require.NoError(t, (&generate.DeadTurns{Store: r.store}).Register(context.Background(), r.router))
	r.run(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	deadLetter := func(stream string, payload []byte) {
		t.Helper()
		h := nats.Header{}
		h.Set(bus.ReasonHeader, "permanent failure")
		require.NoError(t, r.b.Publish(ctx, events.DLQSubject(stream), "dlq:"+uuid.NewString(), payload, h))
	}
	turn := events.New(r.creator, events.TurnRequested{ConversationID: uuid.New(), MessageID: uuid.New(), Channel: events.ChannelWidget}, nil, at)
	turnJSON, err := json.Marshal(turn)
	require.NoError(t, err)
	inbound := events.New(r.creator, events.MessageReceived{Channel: "telegram", ProviderMessageID: "1", Text: "hi"}, nil, at.Add(time.Hour))
	inboundJSON, err := json.Marshal(inbound)
	require.NoError(t, err)
	ingest, err := json.Marshal(events.New(r.creator, events.TurnRequested{Channel: events.ChannelWidget}, nil, at))
	require.NoError(t, err)

	deadLetter(events.StreamIngest, ingest)            // not a turn's stream
	deadLetter(events.StreamGenerate, []byte("{oops")) // unreadable
	deadLetter(events.StreamGenerate, turnJSON)
	deadLetter(events.StreamGenerate, turnJSON) // the same event twice: one turn
	deadLetter(events.StreamInbound, inboundJSON)

	type row struct {
		id             uuid.UUID
		channel, stage string
		at             time.Time
	}
	read := func() []row {
		t.Helper()
		tx, err := r.store.Pool().Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck
		_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", r.creator.String())
		require.NoError(t, err)
		rs, err := tx.Query(ctx, `SELECT event_id, channel, stage, at FROM analytics_dead_letters ORDER BY at`)
		require.NoError(t, err)
		var out []row
		for rs.Next() {
			var x row
			require.NoError(t, rs.Scan(&x.id, &x.channel, &x.stage, &x.at))
			out = append(out, x)
		}
		require.NoError(t, rs.Err())
		return out
	}
	// The consumer takes the dead letters in order: the last one's row means all were seen.
	var rows []row
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if rows = read(); len(rows) > 0 && rows[len(rows)-1].stage == "inbound" {
			break
		}
	}
	require.Len(t, rows, 2, "%+v", rows)
	require.Equal(t, row{turn.ID, events.ChannelWidget, "generate", at}, row{rows[0].id, rows[0].channel, rows[0].stage, rows[0].at.UTC()})
	require.Equal(t, row{inbound.ID, "telegram", "inbound", at.Add(time.Hour)}, row{rows[1].id, rows[1].channel, rows[1].stage, rows[1].at.UTC()})
}
