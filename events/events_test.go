package events_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	creator = uuid.MustParse("0193a1c2-0000-7000-8000-000000000001")
	evID    = uuid.MustParse("0193a1c2-0000-7000-8000-0000000000ee")
	conv    = uuid.MustParse("0193a1c2-0000-7000-8000-0000000000c0")
	msgID   = uuid.MustParse("0193a1c2-0000-7000-8000-0000000000a1")
	doc     = uuid.MustParse("0193a1c2-0000-7000-8000-0000000000d0")
	at      = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

func envelope[T events.Event](data T) events.Message[T] {
	return events.Message[T]{Envelope: events.Envelope{ID: evID, Type: data.EventType(), CreatorID: creator,
		CorrelationID: "corr-1", CausationID: "cause-1", OccurredAt: at}, Data: data}
}

// TestGolden pins the wire format of every event: a change here is a contract change between
// processes of different versions.
func TestGolden(t *testing.T) {
	cases := map[string]any{
		"message_received_v1": envelope(events.MessageReceived{Channel: "widget", ProviderMessageID: "p-1", EndUserID: msgID, ConversationID: conv, Text: "hello", SentAt: "2026-11-25T12:00:00Z"}),
		"turn_requested_v1": envelope(events.TurnRequested{ConversationID: conv, MessageID: msgID, Channel: "widget", Query: "hello", SearchMode: "bm25",
			Passages: []events.Passage{{DocumentID: doc, Title: "Doc", Heading: "H", Text: "text", Score: 0.5}}}),
		"turn_requested_v1_expansions": envelope(events.TurnRequested{ConversationID: conv, MessageID: msgID, Channel: "widget", Query: "¿Cuánta agua?", SearchMode: "bm25",
			Passages:   []events.Passage{{DocumentID: doc, Title: "Doc", Heading: "Hydration", Text: "Drink water.", Score: 0.5}},
			Expansions: &events.Expansions{Words: map[string][]events.Alternative{"agua": {{Word: "water", Weight: 1}}}, Stop: []string{"cuánta"}}}),
		"message_outbound_v1": envelope(events.MessageOutbound{MessageID: msgID, ConversationID: conv, EndUserID: msgID, Channel: "widget"}),
		"delivery_status_v1":  envelope(events.DeliveryStatus{MessageID: msgID, Channel: "widget", Status: "sent"}),
		"message_received_v1_telegram": envelope(events.MessageReceived{Channel: "telegram", ProviderMessageID: "42:7", ExternalUserID: "42",
			DisplayName: "Ana", Text: "hola", ChannelID: doc, ChatID: "42", Language: "es", Type: "text"}),
		"delivery_status_v1_whatsapp": envelope(events.DeliveryStatus{Channel: "whatsapp", Status: "failed", ChannelID: doc,
			ProviderMessageID: "wamid.X", ErrorCode: "131047", Error: "Re-engagement message", At: "2026-11-25T12:00:00Z"}),
		"delivery_status_v1_widget_delivered": envelope(events.DeliveryStatus{MessageID: msgID, Channel: "widget", Status: "delivered", ConversationID: conv}),
		"delivery_status_v1_widget_read":      envelope(events.DeliveryStatus{Channel: "widget", Status: "read", ConversationID: conv, UpToSeq: 42}),
		"document_ingest_v1":                  envelope(events.DocumentIngest{DocumentID: doc, Action: events.IngestIndex, Version: 1}),
		"document_state_v1":                   envelope(events.DocumentState{DocumentID: doc, Status: "indexed", Chunks: 3}),
		"nudge_recipient_v1":                  envelope(events.NudgeRecipient{OccurrenceID: doc, CampaignID: conv, EndUserID: msgID, ScheduledAt: at}),
		"nudge_compose_v1": envelope(events.NudgeCompose{MessageID: msgID, ConversationID: conv, EndUserID: msgID, Channel: "telegram",
			OccurrenceID: doc, Brief: "Ask how the week went", Fallback: "How was your week?"}),
		"memory_requested_v1":      envelope(events.MemoryRequested{EndUserID: msgID, ConversationID: conv, MessageID: doc}),
		"memory_requested_v1_gseq": envelope(events.MemoryRequested{EndUserID: msgID, ConversationID: conv, MessageID: doc, Gseq: 4711}),
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			require.NoError(t, err)
			path := filepath.Join("testdata", name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./events -update to create golden files")
			require.JSONEq(t, string(want), string(got))
		})
	}
}

func TestDecode(t *testing.T) {
	good, _ := json.Marshal(envelope(events.DocumentIngest{DocumentID: doc, Action: "index"}))
	m, err := events.Decode[events.DocumentIngest](good)
	require.NoError(t, err)
	require.Equal(t, doc, m.Data.DocumentID)

	for name, raw := range map[string]string{
		"not json":     `{`,
		"no creator":   `{"id":"` + evID.String() + `","type":"document.ingest.v1"}`,
		"wrong type":   `{"id":"` + evID.String() + `","creator_id":"` + creator.String() + `","type":"message.received.v1"}`,
		"wrong fields": `{"id":"` + evID.String() + `","creator_id":"` + creator.String() + `","type":"document.ingest.v1","data":{"version":"x"}}`,
	} {
		_, err := events.Decode[events.DocumentIngest]([]byte(raw))
		require.True(t, errors.Is(err, events.ErrMalformed), "%s: %v", name, err)
	}
}

func TestSubjects(t *testing.T) {
	require.Equal(t, "cw."+creator.String()+".inbound.widget", events.InboundSubject(creator, "widget"))
	got, err := events.CreatorFromSubject(events.OutboundSubject(creator, "telegram"))
	require.NoError(t, err)
	require.Equal(t, creator, got)
	for _, bad := range []string{"cw", "cw.x.inbound", "dlq.CW_INBOUND", "cw..generate"} {
		_, err := events.CreatorFromSubject(bad)
		require.Error(t, err, bad)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := json.Marshal(envelope(events.MessageReceived{Channel: "widget", ProviderMessageID: "p", Text: "hi"}))
	f.Add(good)
	f.Add([]byte(`{"data":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := events.Decode[events.MessageReceived](b)
		if err == nil && (m.ID == uuid.Nil || m.CreatorID == uuid.Nil) {
			t.Fatalf("accepted an envelope without ids")
		}
	})
}
