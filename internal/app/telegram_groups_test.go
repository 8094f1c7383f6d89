package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
)

// TestTelegramGroups (issue 9, defect 11): by default the bot ignores group and supergroup
// messages (even when mentioned) and channel posts, answering each webhook 200; once the creator
// enables groups for the channel it answers in a group only when mentioned (@username learnt
// with getMe) or replied to. Private chats are answered throughout.
func TestTelegramGroups(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: time.Millisecond}, dispatch.Limits{})
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	var got struct {
		BotUsername   string `json:"bot_username"`
		GroupsEnabled *bool  `json:"groups_enabled"`
	}
	st, raw, err := r.c.Do(context.Background(), "GET", "/api/v1/channels", r.cr.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	require.Contains(t, string(raw), `"bot_username":"test_coach_bot"`)
	require.Contains(t, string(raw), `"groups_enabled":false`)
	const bot = "test_coach_bot"
	botID := int64(0)
	for _, c := range telegramtest.DefaultToken {
		if c == ':' {
			break
		}
		botID = botID*10 + int64(c-'0')
	}
	const group = -100500
	sentTo := func(chat int64) int { return len(r.tg.SentTo(chat)) }
	postOK := func(payload []byte) {
		t.Helper()
		st, body := r.postTG(t, ch, payload)
		require.Equal(t, http.StatusOK, st, body)
	}

	// Groups off: a mention in a group, a plain group message and a channel post are ignored.
	postOK(telegramtest.GroupUpdatePayload(2001, group, "supergroup", 42, "When should I stop caffeine?", bot, 0))
	postOK(telegramtest.GroupUpdatePayload(2002, group, "group", 43, "Hello everyone", "", 0))
	postOK(telegramtest.ChannelPostPayload(2003, -100900, "Channel news"))
	postOK(telegramtest.UpdatePayload(2004, 555, 555, "When should I stop caffeine?"))
	r.tg.WaitSent(t, 1, 60*time.Second)
	quiet(t, 2*time.Second, 0, func() int { return sentTo(group) + sentTo(-100900) }, "no reply in a group while groups are off")
	require.Equal(t, 1, sentTo(555))

	// Groups on: only a mention or a reply to the bot is answered, in the group.
	st, raw, err = r.c.Do(context.Background(), "PATCH", "/api/v1/channels/"+ch.ID.String(), r.cr.AccessToken,
		map[string]any{"groups_enabled": true}, &got)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.True(t, *got.GroupsEnabled)
	require.Equal(t, bot, got.BotUsername)
	postOK(telegramtest.GroupUpdatePayload(2005, group, "supergroup", 43, "Anyone up for a run?", "", 0))
	postOK(telegramtest.GroupUpdatePayload(2006, group, "supergroup", 42, "When should I stop caffeine?", bot, 0))
	r.tg.WaitSent(t, 2, 60*time.Second)
	postOK(telegramtest.GroupUpdatePayload(2007, group, "supergroup", 42, "And what about tea?", "", botID))
	r.tg.WaitSent(t, 3, 60*time.Second)
	quiet(t, 2*time.Second, 2, func() int { return sentTo(group) }, "exactly the mention and the reply answered in the group")
	require.Equal(t, 1, sentTo(555))

	// A WhatsApp channel has no groups setting.
	wa := r.whatsapp(t, false)
	st, _, err = r.c.Do(context.Background(), "PATCH", "/api/v1/channels/"+wa.ID.String(), r.cr.AccessToken, map[string]any{"groups_enabled": true}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, st)
}
