package gateway

import (
	"net/url"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
)

// The creator API's names for the shared HTTP plumbing (package httpx): errors become JSON
// responses in one place, httpx.WriteError.
type apiError = httpx.Error

var (
	errBadRequest        = httpx.BadRequest
	errNotFound          = httpx.NotFound
	errConflict          = httpx.Conflict
	errRateLimited       = httpx.RateLimited
	errLimitsUnavailable = httpx.LimitsUnavailable
	writeError           = httpx.WriteError
	writeJSON            = httpx.WriteJSON
	readJSON             = httpx.ReadJSON
	checkQuery           = httpx.CheckQuery
	orNotFound           = httpx.OrNotFound
)

// channelFilter reads the ?channel= filter of a list: nil when absent, else widget, whatsapp,
// telegram or app (400 bad_channel otherwise).
func channelFilter(q url.Values) (*string, error) {
	v := q.Get("channel")
	switch v {
	case "":
		return nil, nil
	case events.ChannelWidget, events.ChannelWhatsApp, events.ChannelTelegram, events.ChannelApp:
		return &v, nil
	}
	return nil, errBadRequest("bad_channel", "channel must be widget, whatsapp, telegram or app")
}
