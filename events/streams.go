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

// Stream names: one stream per stage.
const (
	StreamInbound   = "CW_INBOUND"
	StreamGenerate  = "CW_GENERATE"
	StreamOutbound  = "CW_OUTBOUND"
	StreamDelivery  = "CW_DELIVERY"
	StreamIngest    = "CW_INGEST"
	StreamKnowledge = "CW_KNOWLEDGE"
	StreamNudge     = "CW_NUDGE"
	StreamCompose   = "CW_COMPOSE"
	StreamMemory    = "CW_MEMORY"
	StreamDLQ       = "CW_DLQ"
)

// Durable consumer names: each is shared by every replica of the role that consumes it.
const (
	ConsumerRetrieve         = "retrieve"
	ConsumerGenerate         = "generate"
	ConsumerCompose          = "compose"
	ConsumerMemory           = "memory"
	ConsumerIngest           = "ingest"
	ConsumerNudge            = "nudge"
	ConsumerDispatchWidget   = "dispatch"
	ConsumerDispatchDelivery = "dispatch-delivery"
)

// ConsumerDispatch is the durable consumer dispatch reads channel's outbound messages with
// (the widget's is ConsumerDispatchWidget): one per channel, so a provider's slowness never
// holds up another's messages.
func ConsumerDispatch(channel string) string {
	if channel == ChannelWidget {
		return ConsumerDispatchWidget
	}
	return "dispatch-" + channel
}

// Streams is every stream the application uses.
var Streams = []StreamSpec{
	{Name: StreamInbound, Subjects: []string{AnyCreator(StageInbound, "*")}, MaxAge: 7 * 24 * time.Hour, Durable: true},
	{Name: StreamGenerate, Subjects: []string{AnyCreator(StageGenerate)}, MaxAge: 24 * time.Hour, Durable: true},
	{Name: StreamOutbound, Subjects: []string{AnyCreator(StageOutbound, "*")}, MaxAge: 7 * 24 * time.Hour, Durable: true},
	{Name: StreamDelivery, Subjects: []string{AnyCreator(StageDelivery)}, MaxAge: 7 * 24 * time.Hour},
	{Name: StreamIngest, Subjects: []string{AnyCreator(StageIngest)}, MaxAge: 7 * 24 * time.Hour},
	{Name: StreamKnowledge, Subjects: []string{AnyCreator(StageKnowledge)}, MaxAge: 24 * time.Hour},
	{Name: StreamNudge, Subjects: []string{AnyCreator(StageNudge)}, MaxAge: 7 * 24 * time.Hour, Durable: true},
	{Name: StreamCompose, Subjects: []string{AnyCreator(StageCompose)}, MaxAge: 7 * 24 * time.Hour, Durable: true},
	{Name: StreamMemory, Subjects: []string{AnyCreator(StageMemory)}, MaxAge: 7 * 24 * time.Hour},
	{Name: StreamDLQ, Subjects: []string{"dlq.>"}, MaxAge: 30 * 24 * time.Hour},
}

// DLQSubject is where a consumer of stream sends what it cannot process.
func DLQSubject(stream string) string { return "dlq." + stream }
