package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/secrets"
)

// channelState is the gateway's channel machinery: the keyring for credentials, the provider
// HTTP client and a short cache of webhook channels (creator, settings, secrets) so a busy
// webhook does not decrypt and query on every call.
type channelState struct {
	once    sync.Once
	keys    *secrets.Keyring
	keysErr error
	hc      *http.Client

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
	Config    secrets.ChannelConfig
	Cred      secrets.ChannelCredentials
}

// webhookCacheTTL bounds how long a deleted channel or changed secret keeps working on a
// replica that cached it.
const webhookCacheTTL = 30 * time.Second

func newChannelState() *channelState {
	return &channelState{cache: map[uuid.UUID]cachedChannel{}}
}

func (s *Server) channelState() *channelState { return s.channels }

// keyring loads the secrets keyring (COACHWIRE_SECRET_KEYS or the data dir's key file) once.
func (s *Server) keyring() (*secrets.Keyring, error) {
	cs := s.channelState()
	cs.once.Do(func() {
		cs.keys, cs.keysErr = secrets.Load(s.Config.SecretKeys, s.Config.DataDir)
		t := http.DefaultTransport.(*http.Transport).Clone()
		cs.hc = &http.Client{Timeout: 15 * time.Second, Transport: t}
	})
	return cs.keys, cs.keysErr
}

func (s *Server) providerHTTP() *http.Client {
	_, _ = s.keyring()
	return s.channelState().hc
}

// errUnknownChannel answers webhooks for channels that do not exist (or no longer do).
var errUnknownChannel = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "unknown channel"}

// webhookChannel finds a webhook's channel before any tenant is known: the creator through the
// SECURITY DEFINER lookup, then the channel inside that tenant, cached briefly.
func (s *Server) webhookChannel(ctx context.Context, r *http.Request, typ string) (*hookChannel, error) {
	id, err := uuid.Parse(r.PathValue("channel"))
	if err != nil {
		return nil, errUnknownChannel
	}
	cs := s.channelState()
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
	keys, err := s.keyring()
	if err != nil {
		return nil, err
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
	cfg, err := secrets.ParseChannelConfig(ch.Config)
	if err != nil {
		return nil, err
	}
	cred, err := keys.OpenChannel(ch.ID, ch.Secrets)
	if err != nil {
		return nil, err
	}
	hc := &hookChannel{ID: ch.ID, CreatorID: creator, Type: ch.Type, Config: cfg, Cred: cred}
	cs.mu.Lock()
	if len(cs.cache) > 10000 {
		clear(cs.cache)
	}
	cs.cache[id] = cachedChannel{ch: hc, expires: now.Add(webhookCacheTTL)}
	cs.mu.Unlock()
	if hc.Type != typ {
		return nil, errUnknownChannel
	}
	return hc, nil
}
