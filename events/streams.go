package events

import "time"

// StreamSpec declares one JetStream stream. Package bus turns it into a stream configuration;
// the settings live here so every process creates identical streams.
type StreamSpec struct {
	Name     string
	Subjects []string
	MaxAge   time.Duration
	// Durable streams carry end-user messages: production runs them with 3 replicas and
	// sync_interval always (see docs/operations.md).
	Durable bool
}

// DuplicateWindow is how long JetStream remembers Nats-Msg-Id values. Handlers are idempotent
// beyond it through deterministic ids in Postgres.
const DuplicateWindow = 10 * time.Minute

// Streams is every stream the application uses.
var Streams = []StreamSpec{
	{Name: "CW_INBOUND", Subjects: []string{"cw.*.inbound.*"}, MaxAge: 7 * 24 * time.Hour, Durable: true},
	{Name: "CW_GENERATE", Subjects: []string{"cw.*.generate"}, MaxAge: 24 * time.Hour, Durable: true},
	{Name: "CW_OUTBOUND", Subjects: []string{"cw.*.outbound.*"}, MaxAge: 7 * 24 * time.Hour, Durable: true},
	{Name: "CW_DELIVERY", Subjects: []string{"cw.*.delivery"}, MaxAge: 7 * 24 * time.Hour},
	{Name: "CW_INGEST", Subjects: []string{"cw.*.ingest"}, MaxAge: 7 * 24 * time.Hour},
	{Name: "CW_KNOWLEDGE", Subjects: []string{"cw.*.knowledge"}, MaxAge: 24 * time.Hour},
	{Name: "CW_NUDGE", Subjects: []string{"cw.*.nudge"}, MaxAge: 7 * 24 * time.Hour, Durable: true},
	{Name: "CW_COMPOSE", Subjects: []string{"cw.*.compose"}, MaxAge: 7 * 24 * time.Hour, Durable: true},
	{Name: "CW_MEMORY", Subjects: []string{"cw.*.memory"}, MaxAge: 7 * 24 * time.Hour},
	{Name: "CW_DLQ", Subjects: []string{"dlq.>"}, MaxAge: 30 * 24 * time.Hour},
}

// DLQSubject is where a consumer of stream sends what it cannot process.
func DLQSubject(stream string) string { return "dlq." + stream }
