package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// Every question gets its own answer: a fixed answer (to a photo, a memory command, STOP or
// START, a program keyword) answers only the message it was written for.

const textOnlyPrefix = "Sorry, I can only read text messages."

// countSentWith counts the messages sent to a WhatsApp number that contain sub.
func countSentWith(wa *whatsapptest.Server, to, sub string) int {
	n := 0
	for _, s := range wa.SentTo(to) {
		if strings.Contains(s.Text, sub) {
			n++
		}
	}
	return n
}

// TestQuestionThenPhotoConcurrentSenders: many people each send a question and, ~20 ms later,
// a photo, as signed WhatsApp webhooks, 10 people at a time. Every question gets exactly one
// model reply, every photo exactly one "text only" answer, and nothing is sent twice.
func TestQuestionThenPhotoConcurrentSenders(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: time.Millisecond}, dispatch.Limits{})
	ch := r.whatsapp(t, false)
	const senders = 40
	from := func(i int) string { return fmt.Sprintf("4917066600%02d", i) }
	question := func(i int) string { return fmt.Sprintf("Question %d: how long should a nap be?", i) }
	send := func(payload []byte) error {
		resp, err := http.DefaultClient.Do(whatsapptest.NewWebhookRequest(ch.WebhookURL, waAppSecret, payload))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("webhook: %d %s", resp.StatusCode, b)
		}
		return nil
	}
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 10)
		mu   sync.Mutex
		errs []error
	)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := send(whatsapptest.TextMessagePayload(whatsapptest.DefaultPhoneNumberID, whatsapptest.Msg{From: from(i), Text: question(i)}))
			if err == nil {
				time.Sleep(20 * time.Millisecond)
				err = send(whatsapptest.TextMessagePayload(whatsapptest.DefaultPhoneNumberID, whatsapptest.Msg{From: from(i), Type: "image"}))
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)

	answered := func(i int) int { return countSentWith(r.wa, from(i), fmt.Sprintf("You asked: %q", question(i))) }
	unanswered := func() []int {
		var out []int
		for i := range senders {
			if answered(i) == 0 || countSentWith(r.wa, from(i), textOnlyPrefix) == 0 {
				out = append(out, i)
			}
		}
		return out
	}
	deadline := time.Now().Add(90 * time.Second)
	for len(unanswered()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	require.Empty(t, unanswered(), "senders whose question or photo got no answer (of %d)", senders)
	time.Sleep(1500 * time.Millisecond) // a duplicate would have been sent by now
	for i := range senders {
		require.Equal(t, 1, answered(i), "sender %d: question answered once", i)
		require.Equal(t, 1, countSentWith(r.wa, from(i), textOnlyPrefix), "sender %d: photo answered once", i)
		require.Len(t, r.wa.SentTo(from(i)), 2, "sender %d: nothing else sent", i)
	}
}

// TestSeqPerConversation: the seq a widget sees counts its own conversation's messages (1, 2,
// 3, ...) whatever other creators' end users write meanwhile; resume and seen work on it.
func TestSeqPerConversation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{DeltaDelay: time.Millisecond})
	a := h.start(h.config())
	c := testenv.NewClient(a.URL)
	ca, cb := c.Register(t), c.Register(t)
	ctx := context.Background()
	dial := func(s testenv.WidgetSession, last int64) *testenv.WidgetConn {
		ws, _, err := c.DialWidget(ctx, s, last, nil)
		require.NoError(t, err)
		t.Cleanup(func() { ws.CloseNow() })
		ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
		return ws
	}
	sa := c.StartWidget(t, ca.WidgetKey, "anon-"+uuid.NewString())
	wa := dial(sa, 0)
	sb := c.StartWidget(t, cb.WidgetKey, "anon-"+uuid.NewString())
	wb := dial(sb, 0)

	r1 := widgetTurn(t, wa, "First question from A")
	require.EqualValues(t, 2, r1.Seq, "A's question is 1, its reply 2")
	for i := range 3 { // another creator's traffic in between
		widgetTurn(t, wb, fmt.Sprintf("B's question %d", i))
	}
	r2 := widgetTurn(t, wa, "Second question from A")
	require.EqualValues(t, 4, r2.Seq, "A's conversation numbers only its own messages")

	var out struct {
		Messages []struct {
			Seq  int64  `json:"seq"`
			Role string `json:"role"`
		} `json:"messages"`
	}
	st, raw, err := c.Do(ctx, "GET", "/api/v1/conversations/"+sa.ConversationID.String()+"/messages", ca.AccessToken, nil, &out)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	var seqs []int64
	for _, m := range out.Messages {
		seqs = append(seqs, m.Seq)
	}
	require.Equal(t, []int64{1, 2, 3, 4}, seqs)
	st, raw, err = c.Do(ctx, "GET", "/api/v1/conversations/"+sb.ConversationID.String()+"/messages?after_seq=4", cb.AccessToken, nil, &out)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Len(t, out.Messages, 2, "B's conversation: 6 messages, 2 after seq 4")

	// Resume after the first reply replays the second only (before ready); seen marks up to it.
	wa.CloseNow()
	wa, _, err = c.DialWidget(ctx, sa, r1.Seq, nil)
	require.NoError(t, err)
	t.Cleanup(func() { wa.CloseNow() })
	var replayed []testenv.Frame
	wa.Next(t, 10*time.Second, func(f testenv.Frame) bool {
		if testenv.IsReply(f) {
			replayed = append(replayed, f)
		}
		return f.Type == "ready"
	})
	require.Len(t, replayed, 1)
	f := replayed[0]
	require.Equal(t, r2.ID, f.ID)
	require.EqualValues(t, 4, f.Seq)
	require.NoError(t, wa.SendJSON(ctx, map[string]any{"type": "seen", "seq": f.Seq}))
	testenv.Eventually(t, 20*time.Second, func() bool { return widgetMessageStatus(t, c, ca, sa.ConversationID, r2.ID) == "read" }, "A's reply read")
	require.NoError(t, wa.SendJSON(ctx, map[string]any{"type": "seen", "seq": 5}))
	require.Equal(t, "bad_seq", wa.Next(t, 5*time.Second, func(f testenv.Frame) bool { return f.Type == "error" }).Code)
}
