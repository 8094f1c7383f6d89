package webpush_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/webpush"
	"github.com/coachwire/coachwire/internal/channels/webpushtest"
	"github.com/coachwire/coachwire/internal/secrets"
)

func sender(t *testing.T) (*webpush.Sender, *webpushtest.Server) {
	v, err := secrets.GenerateVAPID()
	require.NoError(t, err)
	return &webpush.Sender{VAPID: v, Subject: "mailto:ops@example.com", HTTP: &http.Client{Timeout: 10 * time.Second}}, webpushtest.New(t, v.PublicKey)
}

func sub(s *webpushtest.Sub) webpush.Subscription {
	return webpush.Subscription{Endpoint: s.Endpoint, P256dh: s.P256dh, Auth: s.Auth}
}

// The double decrypts what webpush-go encrypted with the subscription's keys and checks the
// VAPID JWT; its scripted answers come back classified.
func TestSendThroughTheDouble(t *testing.T) {
	t.Parallel()
	s, srv := sender(t)
	a := srv.Subscribe()
	ctx := context.Background()
	p := webpush.Payload{Title: "Coach", Body: "Time for your walk", ConversationID: uuid.New(), Seq: 7, URL: "/a/coach"}
	b, err := p.Encode(webpush.MaxPayload(webpush.RecordSize))
	require.NoError(t, err)
	loc, err := s.Send(ctx, sub(a), b, webpush.RecordSize)
	require.NoError(t, err)
	require.NotEmpty(t, loc)
	msgs := srv.Messages(a)
	require.Len(t, msgs, 1)
	require.Equal(t, "Time for your walk", msgs[0].Payload.Body)
	require.Equal(t, p.ConversationID.String(), msgs[0].Payload.ConversationID)
	require.EqualValues(t, 7, msgs[0].Payload.Seq)
	require.Equal(t, webpush.RecordSize, msgs[0].RecordSize)
	require.Equal(t, webpush.RecordSize, msgs[0].BodyLen, "padded to the record size")

	srv.Then(a, webpushtest.Answer{Status: 429, RetryAfter: "3"}, webpushtest.Answer{Status: 503}, webpushtest.Answer{Status: 400})
	_, err = s.Send(ctx, sub(a), b, webpush.RecordSize)
	require.Equal(t, channels.RateLimited, channels.ClassOf(err))
	require.Equal(t, 3*time.Second, channels.RetryAfterOf(err))
	require.Equal(t, channels.ScopeNumber, channels.ScopeOf(err))
	_, err = s.Send(ctx, sub(a), b, webpush.RecordSize)
	require.Equal(t, channels.Retryable, channels.ClassOf(err))
	_, err = s.Send(ctx, sub(a), b, webpush.RecordSize)
	require.Equal(t, channels.Permanent, channels.ClassOf(err))
	// Retry-After as an HTTP date.
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	srv.Then(a, webpushtest.Answer{Status: 429, RetryAfter: now.Add(90 * time.Second).Format(http.TimeFormat)})
	_, err = s.Send(ctx, sub(a), b, webpush.RecordSize)
	require.Equal(t, 90*time.Second, channels.RetryAfterOf(err))
	s.Now = nil

	srv.MaxBody(2048)
	_, err = s.Send(ctx, sub(a), b, webpush.RecordSize)
	var pe *channels.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, http.StatusRequestEntityTooLarge, pe.Status)
	short, err := p.Shorten(webpush.ShortBodyRunes).Encode(webpush.MaxPayload(webpush.ShortRecordSize))
	require.NoError(t, err)
	_, err = s.Send(ctx, sub(a), short, webpush.ShortRecordSize)
	require.NoError(t, err)

	for _, st := range []int{404, 410} {
		g := srv.Subscribe()
		srv.Gone(g, st)
		_, err = s.Send(ctx, sub(g), b, webpush.RecordSize)
		require.Equal(t, channels.RecipientGone, channels.ClassOf(err), "status %d", st)
	}
}

// The double refuses a push signed with another key than the deployment's.
func TestDoubleChecksTheVAPIDKey(t *testing.T) {
	t.Parallel()
	s, srv := sender(t)
	other, err := secrets.GenerateVAPID()
	require.NoError(t, err)
	srv.SetVAPID(other.PublicKey)
	a := srv.Subscribe()
	_, err = s.Send(context.Background(), sub(a), []byte(`{}`), webpush.RecordSize)
	require.Equal(t, channels.Permanent, channels.ClassOf(err))
	require.Contains(t, err.Error(), "401")
	p := srv.Problems()
	require.Len(t, p, 1)
	require.Contains(t, p[0], "is not the deployment's public key")
	require.Empty(t, srv.Messages(nil))
}

func TestValidate(t *testing.T) {
	t.Parallel()
	srv := webpushtest.New(t, "")
	a := srv.Subscribe()
	ok := webpush.Subscription{Endpoint: "https://push.example.com/x", P256dh: a.P256dh, Auth: a.Auth}
	require.NoError(t, webpush.Validate(ok, nil))
	bad := []webpush.Subscription{
		{Endpoint: a.Endpoint, P256dh: a.P256dh, Auth: a.Auth}, // http, not allowed
		{Endpoint: "https://u:p@push.example.com/x", P256dh: a.P256dh, Auth: a.Auth},
		{Endpoint: "https://push.example.com/" + strings.Repeat("x", 3000), P256dh: a.P256dh, Auth: a.Auth},
		{Endpoint: ok.Endpoint, P256dh: a.Auth, Auth: a.Auth},
		{Endpoint: ok.Endpoint, P256dh: "BAAA" + a.P256dh[4:], Auth: a.Auth}, // not on the curve
		{Endpoint: ok.Endpoint, P256dh: a.P256dh, Auth: a.P256dh},
		{Endpoint: "/relative", P256dh: a.P256dh, Auth: a.Auth},
	}
	for i, b := range bad {
		require.ErrorIs(t, webpush.Validate(b, nil), webpush.ErrInvalid, "case %d", i)
	}
	require.NoError(t, webpush.Validate(webpush.Subscription{Endpoint: a.Endpoint, P256dh: a.P256dh, Auth: a.Auth}, []string{srv.URL}))
	require.NoError(t, webpush.CheckSubject("mailto:ops@example.com"))
	require.NoError(t, webpush.CheckSubject("https://example.com"))
	require.Error(t, webpush.CheckSubject("ops@example.com"))
}

func TestPayloadFits(t *testing.T) {
	t.Parallel()
	p := webpush.Payload{Title: "Coach", Body: strings.Repeat("héllo wörld ", 1000), ConversationID: uuid.New(), Seq: 1, URL: "/a/x"}
	for _, max := range []int{webpush.MaxPayload(webpush.RecordSize), webpush.MaxPayload(webpush.ShortRecordSize), 300} {
		b, err := p.Encode(max)
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), max)
		var back webpush.Payload
		require.NoError(t, json.Unmarshal(b, &back))
		require.True(t, strings.HasSuffix(back.Body, "…"))
		require.Equal(t, p.ConversationID, back.ConversationID)
	}
	b, err := webpush.Payload{Title: "t", Body: "short"}.Encode(4000)
	require.NoError(t, err)
	require.Contains(t, string(b), `"body":"short"`)
}
