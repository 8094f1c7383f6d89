package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestEditedStopWordsOptOut: STOP / START words edited with PATCH /api/v1/channels/{id} apply
// to the very next inbound message through the real path (webhook, JetStream, retrieve): the new
// stop word opts the person out with the confirmation, the new start word back in, and a default
// word the creator removed (CANCEL) goes to the coach like any message.
func TestEditedStopWordsOptOut(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: time.Millisecond}, dispatch.Limits{})
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	r.do(t, "PATCH", "/api/v1/channels/"+ch.ID.String(), map[string]any{"opt_out_words": []string{"STOP", "halt"}, "opt_in_words": []string{"start", "Weiter"}})
	const chat = 8841
	sent := func(n int) string {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() bool { return len(r.tg.SentTo(chat)) >= n }, "answer %d", n)
		return r.tg.SentTo(chat)[n-1].Text
	}
	optedOut := func(want bool) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, func() bool {
			cs := r.conversations(t, "?channel=telegram")
			return len(cs) == 1 && cs[0].OptedOut == want
		}, "opted out = %v", want)
	}
	chats := len(r.ollama.ChatRequests())

	r.postTG(t, ch, telegramtest.UpdatePayload(3001, chat, chat, "Halt!"))
	require.Contains(t, sent(1), "unsubscribed", "the new stop word opts out")
	optedOut(true)
	r.postTG(t, ch, telegramtest.UpdatePayload(3002, chat, chat, "weiter"))
	require.Contains(t, sent(2), "subscribed again", "the new start word opts back in")
	optedOut(false)
	require.Equal(t, chats, len(r.ollama.ChatRequests()), "opt words never reach the model")

	// CANCEL, a default the creator removed, is a message for the coach now.
	r.postTG(t, ch, telegramtest.UpdatePayload(3003, chat, chat, "cancel"))
	reply := sent(3)
	require.NotContains(t, reply, "unsubscribed")
	require.Greater(t, len(r.ollama.ChatRequests()), chats, "the coach answered %q", reply)
	optedOut(false)

	// STOP itself still works.
	r.postTG(t, ch, telegramtest.UpdatePayload(3004, chat, chat, "/stop"))
	require.True(t, strings.Contains(sent(4), "unsubscribed"))
	optedOut(true)
}
