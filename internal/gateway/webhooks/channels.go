package webhooks

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
	"github.com/coachwire/coachwire/internal/secrets"
)

// channelCache is a short cache of webhook channels (creator, settings, opened secrets) so a
// busy webhook does not decrypt and query on every call.
type channelCache struct {
	mu    sync.Mutex
	cache map[uuid.UUID]cachedChannel
}

type cachedChannel struct {
	ch      *hookChannel
	expires time.Time
}

// hookChannel is a channel as a webhook needs it.
type hookChannel struct {
	ID        uuid.UUID
	CreatorID uuid.UUID
	Type      string
	Config    channels.Config
	Cred      secrets.ChannelCredentials
}

// CacheTTL bounds how long a deleted channel or changed secret keeps working on a replica that
// cached it.
const CacheTTL = 30 * time.Second

// Forget drops a channel from this replica's cache: the creator API calls it when a channel is
// changed or deleted (other replicas see the change within CacheTTL).
func (s *Server) Forget(id uuid.UUID) {
	s.channels.mu.Lock()
	delete(s.channels.cache, id)
	s.channels.mu.Unlock()
}

// errUnknownChannel answers webhooks for channels that do not exist (or no longer do).
var errUnknownChannel = &httpx.Error{Status: http.StatusNotFound, Code: "not_found", Message: "unknown channel"}

// errNoKeyring answers when the gateway was given no secrets keyring: no channel secret can be
// opened.
var errNoKeyring = &httpx.Error{Status: http.StatusInternalServerError, Code: "internal", Message: "no secrets keyring configured"}

// channel finds a webhook's channel before any tenant is known: the creator through the
// SECURITY DEFINER lookup, then the channel inside that tenant, cached briefly.
func (s *Server) channel(ctx context.Context, r *http.Request, typ string) (*hookChannel, error) {
	id, err := uuid.Parse(r.PathValue("channel"))
	if err != nil {
		return nil, errUnknownChannel
	}
	cs := &s.channels
	now := time.Now()
	cs.mu.Lock()
	c, ok := cs.cache[id]
	cs.mu.Unlock()
	if ok && now.Before(c.expires) {
		if c.ch.Type != typ {
			return nil, errUnknownChannel
		}
		return c.ch, nil
	}
	if s.Keys == nil {
		return nil, errNoKeyring
	}
	var creator uuid.UUID
	if err := s.Store.Global(ctx, func(q *db.Queries) (err error) {
		creator, err = q.ChannelCreator(ctx, id)
		return err
	}); err != nil || creator == uuid.Nil {
		if err == nil || db.IsNotFound(err) || strings.Contains(err.Error(), "NULL") {
			return nil, errUnknownChannel
		}
		return nil, err
	}
	var ch db.Channel
	if err := s.Store.InTenant(ctx, creator, func(q *db.Queries) (err error) {
		ch, err = q.GetChannel(ctx, id)
		return err
	}); err != nil {
		if db.IsNotFound(err) {
			return nil, errUnknownChannel
		}
		return nil, err
	}
	cfg, err := channels.ParseConfig(ch.Config)
	if err != nil {
		return nil, err
	}
	cred, err := s.Keys.OpenChannel(ch.ID, ch.Secrets)
	if err != nil {
		return nil, err
	}
	hc := &hookChannel{ID: ch.ID, CreatorID: creator, Type: ch.Type, Config: cfg, Cred: cred}
	cs.mu.Lock()
	if len(cs.cache) > 10000 {
		clear(cs.cache)
	}
	cs.cache[id] = cachedChannel{ch: hc, expires: now.Add(CacheTTL)}
	cs.mu.Unlock()
	if hc.Type != typ {
		return nil, errUnknownChannel
	}
	return hc, nil
}
