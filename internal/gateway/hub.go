package gateway

import (
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
)

// hub connects widget sockets to their conversations' live subjects on core NATS, so whichever
// replica holds a socket receives that conversation's deltas and messages.
type hub struct {
	b   *bus.Bus
	log *slog.Logger

	mu    sync.Mutex
	conns map[*nats.Subscription]func()
}

func newHub(b *bus.Bus, log *slog.Logger) *hub {
	return &hub{b: b, log: log, conns: map[*nats.Subscription]func(){}}
}

// join subscribes deliver to a conversation's live frames until the returned func is called.
// closeConn is called when the gateway shuts down.
func (h *hub) join(creator, conversation uuid.UUID, deliver func(events.Live), closeConn func()) (func(), error) {
	sub, err := h.b.NC.Subscribe(events.LiveSubject(creator, conversation), func(m *nats.Msg) {
		var l events.Live
		if err := json.Unmarshal(m.Data, &l); err != nil {
			h.log.Warn("live frame undecodable", "subject", m.Subject, "err", err)
			return
		}
		deliver(l)
	})
	if err != nil {
		return nil, err
	}
	// Make sure the server knows the interest before the socket replays history, so nothing
	// published in between is missed.
	if err := h.b.NC.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	h.mu.Lock()
	h.conns[sub] = closeConn
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.conns, sub)
		h.mu.Unlock()
		_ = sub.Unsubscribe()
	}, nil
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c()
	}
}
