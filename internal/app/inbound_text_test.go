package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestInboundNULStoredSanitisedAndAnswered (issue 9, defect 2): an inbound widget message that
// still carries U+0000 and an escape character past the gateway (as the gateway used to publish
// them, after its ack) is stored sanitised and answered; it used to fail in retrieve on
// "invalid byte sequence for encoding UTF8: 0x00" until it was dead-lettered, unanswered.
func TestInboundNULStoredSanitisedAndAnswered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.config())
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())

	ctx := context.Background()
	b := testenv.BusAt(t, h.natsURL)
	id := uuid.NewString()
	ev := events.New(cr.ID, events.MessageReceived{Channel: events.ChannelWidget, ProviderMessageID: id, EndUserID: sess.EndUserID,
		ConversationID: sess.ConversationID, Text: "how do I sleep\x00 better?\x1b", SentAt: time.Now().UTC().Format(time.RFC3339Nano)}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(ctx, b, events.InboundSubject(cr.ID, events.ChannelWidget), "widget:"+id, ev))

	var msgs struct {
		Messages []struct {
			Role string `json:"role"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	testenv.Eventually(t, 60*time.Second, func() bool {
		st, _, err := c.Do(ctx, "GET", "/api/v1/conversations/"+sess.ConversationID.String()+"/messages", cr.AccessToken, nil, &msgs)
		return err == nil && st == http.StatusOK && len(msgs.Messages) >= 2
	}, "the message with NUL to be stored and answered")
	require.Equal(t, "user", msgs.Messages[0].Role)
	require.Equal(t, "how do I sleep better?", msgs.Messages[0].Text)
	require.Equal(t, "assistant", msgs.Messages[1].Role)
}
