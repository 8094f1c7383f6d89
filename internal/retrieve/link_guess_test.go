package retrieve_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/people"
	"github.com/coachwire/coachwire/internal/retrieve"
)

// TestLinkCodeGuessesLimited: a chat that sent people.MaxWrongCodes unknown link codes within
// an hour is not looked up any more: even a live code (someone else's app) does not link it, so
// codes cannot be guessed by sending LINK over and over.
func TestLinkCodeGuessesLimited(t *testing.T) {
	t.Parallel()
	r := newRig(t, &retrieve.Worker{Search: index(t)})
	wa := r.channel(t, "whatsapp", channels.Config{PhoneNumberID: "1"})
	app, _ := r.appUser(t)
	weu, wconv := channelConv(r, "whatsapp", wa, "491700000009", "")
	say := func(id, text string) string {
		t.Helper()
		msg := whatsapp(wa, "491700000009", id, text)
		r.publish(t, msg.ProviderMessageID, msg)
		r.handled(t)
		a := r.answerTo(t, wconv, channelMsgID(r, msg.Channel, wa, msg.ProviderMessageID))
		require.NotNil(t, a, "answer to %q", text)
		return a.Body
	}
	for i := range people.MaxWrongCodes {
		require.Contains(t, say(fmt.Sprintf("g%d", i), fmt.Sprintf("LINK ZZZZ%04d", 2222+i)), "don't know this link code")
	}
	require.Contains(t, say("g-live", "LINK "+r.code(t, app, time.Now())), "Too many")
	require.NotEqual(t, r.person(t, weu), r.person(t, app), "not linked")
}
