package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/people"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestAppLinkRoutes: the app's session asks for a link code (the Telegram deep link included,
// no WhatsApp link when the number is unknown, 5 an hour), sees its linked channels once a code
// is redeemed, and unlinks a channel; the creator sees one person with their channels on the
// end user and in the inbox, and unlinks from the console's API, never another creator's.
func TestAppLinkRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	s := e.register(t, uniqueEmail())
	other := e.register(t, uniqueEmail())
	ctx := context.Background()
	store := testenv.Store(t)
	c := s.Creator.ID

	var sess struct {
		Token     string    `json:"token"`
		EndUserID uuid.UUID `json:"end_user_id"`
	}
	r := e.do(t, "POST", "/api/v1/widget/session", map[string]string{"widget_key": s.Creator.WidgetKey, "anon_id": "anon-link-1"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &sess)
	app := []string{"Authorization", "Bearer " + sess.Token}

	// A Telegram bot and a person who wrote to it (as retrieve records them).
	tgChannel := uuid.New()
	external := tgChannel.String() + ":8801:8801"
	tg := ids.EndUser(c, "telegram", external)
	require.NoError(t, store.InTenant(ctx, c, func(q *db.Queries) error {
		if _, err := q.InsertChannel(ctx, db.InsertChannelParams{ID: tgChannel, CreatorID: c, Type: "telegram", Name: "Bot", ExternalID: "bot-" + tgChannel.String(),
			Config: json.RawMessage(`{"bot_username":"test_coach_bot"}`), Secrets: "sealed"}); err != nil {
			return err
		}
		if _, err := q.UpsertChannelEndUser(ctx, db.UpsertChannelEndUserParams{ID: tg, CreatorID: c, Channel: "telegram", ExternalID: external,
			DisplayName: "Ana", ChannelID: uuid.NullUUID{UUID: tgChannel, Valid: true}, ProviderUserID: "8801", ChatID: "8801"}); err != nil {
			return err
		}
		_, err := q.UpsertChannelConversation(ctx, db.UpsertChannelConversationParams{ID: ids.Conversation(c, tg, "telegram"), CreatorID: c, EndUserID: tg,
			Channel: "telegram", ChannelID: uuid.NullUUID{UUID: tgChannel, Valid: true}})
		return err
	}))

	r = e.do(t, "POST", "/api/v1/app/link", nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "no session")
	r = e.do(t, "POST", "/api/v1/app/link", nil, bearer(s)...)
	require.Equal(t, http.StatusUnauthorized, r.status, "a creator's token is not an app session")
	r = e.do(t, "POST", "/api/v1/app/link", nil, app...)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var code struct {
		Code        string    `json:"code"`
		ExpiresAt   time.Time `json:"expires_at"`
		WhatsAppURL *string   `json:"whatsapp_url"`
		TelegramURL *string   `json:"telegram_url"`
	}
	r.json(t, &code)
	require.Len(t, code.Code, people.CodeLen)
	require.WithinDuration(t, time.Now().Add(people.CodeTTL), code.ExpiresAt, time.Minute)
	require.NotNil(t, code.TelegramURL)
	require.Equal(t, "https://t.me/test_coach_bot?start=link_"+code.Code, *code.TelegramURL)
	require.Nil(t, code.WhatsAppURL, "no WhatsApp number known")

	// The person sends it in Telegram (what retrieve does with "/start link_<code>").
	require.NoError(t, store.InTenant(ctx, c, func(q *db.Queries) error {
		eu, err := q.GetEndUser(ctx, tg)
		if err != nil {
			return err
		}
		_, err = people.Redeem(ctx, q, code.Code, eu, time.Now())
		return err
	}))
	var links struct {
		Identities []struct {
			EndUserID uuid.UUID `json:"end_user_id"`
			Channel   string    `json:"channel"`
		} `json:"identities"`
	}
	r = e.do(t, "GET", "/api/v1/app/link", nil, app...)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &links)
	require.Len(t, links.Identities, 2)
	require.Equal(t, "widget", links.Identities[0].Channel)
	require.Equal(t, "telegram", links.Identities[1].Channel)

	// The creator: one person with both channels, on the end user and in the inbox.
	var eu struct {
		PersonID   uuid.UUID `json:"person_id"`
		Identities []struct {
			EndUserID uuid.UUID `json:"end_user_id"`
			Channel   string    `json:"channel"`
		} `json:"identities"`
	}
	r = e.do(t, "GET", "/api/v1/end-users/"+sess.EndUserID.String(), nil, bearer(s)...)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &eu)
	require.Equal(t, tg, eu.PersonID, "the chat names the person")
	require.Len(t, eu.Identities, 2)
	var inbox struct {
		Conversations []struct {
			EndUserID      uuid.UUID `json:"end_user_id"`
			PersonID       uuid.UUID `json:"person_id"`
			PersonChannels []string  `json:"person_channels"`
		} `json:"conversations"`
	}
	r = e.do(t, "GET", "/api/v1/conversations", nil, bearer(s)...)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &inbox)
	require.Len(t, inbox.Conversations, 2)
	for _, cv := range inbox.Conversations {
		require.Equal(t, tg, cv.PersonID)
		require.Equal(t, []string{"widget", "telegram"}, cv.PersonChannels)
	}

	// The app unlinks Telegram; a second time there is nothing to unlink.
	r = e.do(t, "DELETE", "/api/v1/app/link/telegram", nil, app...)
	require.Equal(t, http.StatusNoContent, r.status, string(r.body))
	r = e.do(t, "DELETE", "/api/v1/app/link/telegram", nil, app...)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Contains(t, string(r.body), "not_linked")
	r = e.do(t, "GET", "/api/v1/end-users/"+sess.EndUserID.String(), nil, bearer(s)...)
	r.json(t, &eu)
	require.Equal(t, sess.EndUserID, eu.PersonID)
	require.Len(t, eu.Identities, 1)

	// Linked again; the creator unlinks; another creator cannot.
	r = e.do(t, "POST", "/api/v1/app/link", nil, app...)
	r.json(t, &code)
	require.NoError(t, store.InTenant(ctx, c, func(q *db.Queries) error {
		eu, err := q.GetEndUser(ctx, tg)
		if err != nil {
			return err
		}
		_, err = people.Redeem(ctx, q, code.Code, eu, time.Now())
		return err
	}))
	r = e.do(t, "DELETE", "/api/v1/end-users/"+tg.String()+"/link", nil, bearer(other)...)
	require.Equal(t, http.StatusNotFound, r.status, "another creator's end user")
	r = e.do(t, "DELETE", "/api/v1/end-users/"+tg.String()+"/link", nil, bearer(s)...)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &eu)
	require.Equal(t, tg, eu.PersonID)
	require.Len(t, eu.Identities, 1)
	r = e.do(t, "DELETE", "/api/v1/end-users/"+tg.String()+"/link", nil, bearer(s)...)
	require.Equal(t, http.StatusConflict, r.status)

	// At most people.CodesPerHour codes an hour (two asked for so far).
	for range people.CodesPerHour - 2 {
		require.Equal(t, http.StatusCreated, e.do(t, "POST", "/api/v1/app/link", nil, app...).status)
	}
	r = e.do(t, "POST", "/api/v1/app/link", nil, app...)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.NotEmpty(t, r.header.Get("Retry-After"))
}
