package widget

import (
	"errors"
	"testing"

	"github.com/coachwire/coachwire/internal/gateway/httpx"
)

// TestEndUserIdentity: a session is a verified user only with the creator's HMAC over user_id,
// an anonymous browser only when the creator does not require verified identities.
func TestEndUserIdentity(t *testing.T) {
	t.Parallel()
	open := widgetCreator{Secret: "s3cret"}
	strict := widgetCreator{Secret: "s3cret", IdentityRequired: true}
	cases := []struct {
		name     string
		wc       widgetCreator
		req      widgetSessionRequest
		external string
		verified bool
		status   int
	}{
		{"verified", strict, widgetSessionRequest{UserID: "u-1", UserHash: UserHash("s3cret", "u-1")}, "user:u-1", true, 0},
		{"forged hash", open, widgetSessionRequest{UserID: "u-1", UserHash: UserHash("other", "u-1"), AnonID: "anon-123456"}, "", false, 401},
		{"anonymous", open, widgetSessionRequest{AnonID: "anon-123456"}, "anon:anon-123456", false, 0},
		{"anonymous, identity required", strict, widgetSessionRequest{AnonID: "anon-123456"}, "", false, 401},
		{"short anon id", open, widgetSessionRequest{AnonID: "short"}, "", false, 400},
		{"anon id with a space", open, widgetSessionRequest{AnonID: "anon 123456"}, "", false, 400},
	}
	for _, c := range cases {
		external, verified, err := endUserIdentity(c.wc, c.req)
		var ae *httpx.Error
		switch {
		case c.status != 0 && (!errors.As(err, &ae) || ae.Status != c.status):
			t.Errorf("%s: err %v, want status %d", c.name, err, c.status)
		case c.status == 0 && (err != nil || external != c.external || verified != c.verified):
			t.Errorf("%s: %q %v %v, want %q %v", c.name, external, verified, err, c.external, c.verified)
		}
	}
}
