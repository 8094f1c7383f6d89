package app_test

import (
	"context"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestDispatchProcessKilledMidSend (issue 9, defect 15) kills -9 the dispatch OS process while
// WhatsApp holds the answer to one send (the provider accepted the message). After a restart
// that reply is sent exactly once more, counted (delivery_parts.attempts 2), and the replies
// that were not in flight are not sent again.
func TestDispatchProcessKilledMidSend(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	wa := whatsapptest.New(t)
	gw := h.start(h.config(config.TargetGateway))
	c := testenv.NewClient(gw.URL)
	cr := c.Register(t)
	var ch struct {
		ID uuid.UUID `json:"id"`
	}
	st, raw, err := c.Do(context.Background(), "POST", "/api/v1/channels", cr.AccessToken, map[string]any{"type": "whatsapp",
		"phone_number_id": whatsapptest.DefaultPhoneNumberID, "access_token": whatsapptest.DefaultAccessToken,
		"app_secret": waAppSecret, "verify_token": "verify-me-123"}, &ch)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))

	env := func() []string {
		return h.env(t.TempDir(), "COACHWIRE_TARGET=dispatch", "COACHWIRE_WHATSAPP_API_URL="+wa.URL, "COACHWIRE_PROVIDER_CALL_TIMEOUT=3s")
	}
	dispatch := startProc(t, "dispatch", env())
	outs := seedOutbound(t, gw, cr.ID, ch.ID, 3)
	ids := make([]uuid.UUID, len(outs))
	for i, m := range outs {
		ids[i] = uuid.MustParse(m.Header.Get("Nats-Msg-Id")[len("out:"):])
	}
	held := "491500000000" // the first person's number (seedOutbound)
	var once sync.Once
	release := wa.StallAfterAccept(func(r whatsapptest.Request) bool {
		first := false
		if r.To == held {
			once.Do(func() { first = true })
		}
		return first
	})
	defer release()
	status := func(id uuid.UUID) (s string, attempts int32) {
		_ = gw.Store.InTenant(context.Background(), cr.ID, func(q *db.Queries) error {
			m, err := q.GetMessage(context.Background(), id)
			s = m.Status
			if err != nil {
				return err
			}
			p, err := q.GetDeliveryPart(context.Background(), db.GetDeliveryPartParams{MessageID: id, Part: 0})
			attempts = p.Attempts
			return err
		})
		return s, attempts
	}
	for _, m := range outs {
		_, err := gw.Bus.JetStream().PublishMsg(context.Background(), m)
		require.NoError(t, err)
	}
	testenv.Eventually(t, 60*time.Second, func() bool {
		s1, _ := status(ids[1])
		s2, _ := status(ids[2])
		return wa.Stalled() == 1 && s1 == "sent" && s2 == "sent"
	}, "one send held at the provider, the other two sent")
	dispatch.kill(syscall.SIGKILL)
	release()

	startProc(t, "dispatch-2", env())
	testenv.Eventually(t, 90*time.Second, func() bool { s, _ := status(ids[0]); return s == "sent" }, "the held reply sent after the restart")
	require.Len(t, wa.SentTo(held), 2, "the in-flight send, and its one re-send")
	for i, id := range ids {
		_, attempts := status(id)
		want := int32(1)
		if i == 0 {
			want = 2
		}
		require.Equal(t, want, attempts, "provider calls of reply %d", i)
	}
	for _, n := range []string{"491500000001", "491500000002"} {
		require.Len(t, wa.SentTo(n), 1, n)
	}
}
