package widget

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
)

// hubQueue is how many live frames may wait for the hub's dispatcher (pointers: 512 KB).
const hubQueue = 1 << 16

// hub connects widget sockets to their conversations' live subjects on core NATS, so whichever
// replica holds a socket receives that conversation's deltas and messages. Every socket's
// subscription delivers into one channel read by one dispatcher goroutine (no goroutine per
// subscription, as an asynchronous subscription would have): an idle socket costs the gateway
// its subscription entry, not a stack. The dispatcher never waits on a socket (see deliverLive).
type hub struct {
	b   *bus.Bus
	log *slog.Logger

	start sync.Once
	msgs  chan *nats.Msg

	mu   sync.Mutex
	subs map[*nats.Subscription]*liveSub
}

type liveSub struct {
	deliver   func(events.Live)
	closeConn func()
	// catchUp writes what the socket may have missed while the live subject was not delivering
	// (see resync).
	catchUp func()
}

// resyncParallel bounds the sockets catching up at once after a reconnect (each reads its
// conversation from PostgreSQL).
const resyncParallel = 8

func newHub(b *bus.Bus, log *slog.Logger) *hub {
	return &hub{b: b, log: log, subs: map[*nats.Subscription]*liveSub{}}
}

// join subscribes deliver to a conversation's live frames until the returned func is called.
// closeConn is called when the gateway shuts down and returns once the socket is closed.
func (h *hub) join(ctx context.Context, creator, conversation uuid.UUID, deliver func(events.Live), closeConn, catchUp func()) (func(), error) {
	h.start.Do(func() {
		h.msgs = make(chan *nats.Msg, hubQueue)
		go h.dispatch()
		h.b.OnReconnect(h.resync)
	})
	// The subscription is in h.subs before its first frame can be dispatched (dispatch looks it
	// up under h.mu), and join returns once the server knows the interest, before the socket
	// replays history: nothing published in between is missed.
	h.mu.Lock()
	sub, err := h.b.Subscribe(events.LiveSubject(creator, conversation), h.msgs)
	if err != nil {
		h.mu.Unlock()
		return nil, err
	}
	h.subs[sub] = &liveSub{deliver: deliver, closeConn: closeConn, catchUp: catchUp}
	h.mu.Unlock()
	if err := h.b.Flush(ctx); err != nil {
		h.leave(sub)
		return nil, err
	}
	return func() { h.leave(sub) }, nil
}

func (h *hub) leave(sub *nats.Subscription) {
	h.mu.Lock()
	delete(h.subs, sub)
	h.mu.Unlock()
	_ = sub.Unsubscribe()
}

// resync runs when the gateway's NATS connection is back after a loss. Live frames are core
// NATS: a final message dispatch published while this gateway was cut off, or before its
// subscriptions reached a restarted server, or that a dying server held, was dropped, and
// dispatch has recorded it as sent. The sockets stay open through a NATS restart, so the widget
// does not resume by itself: every socket catches up from PostgreSQL instead, once the server
// has the subscriptions again (a message published after that arrives live; one published
// before is already stored, as dispatch pushes only stored messages).
func (h *hub) resync() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.b.Flush(ctx); err != nil {
		h.log.Warn("widget sockets: catch up after NATS reconnect: flush", "err", err)
	}
	h.mu.Lock()
	subs := make([]*liveSub, 0, len(h.subs))
	for _, ls := range h.subs {
		subs = append(subs, ls)
	}
	h.mu.Unlock()
	h.log.Info("widget sockets: catching up after NATS reconnect", "sockets", len(subs))
	sem := make(chan struct{}, resyncParallel)
	var wg sync.WaitGroup
	for _, ls := range subs {
		if ls.catchUp == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ls.catchUp()
		}()
	}
	wg.Wait()
}

// dispatch hands each live frame to its socket's session; frames of a socket that left are
// dropped.
func (h *hub) dispatch() {
	for m := range h.msgs {
		h.mu.Lock()
		ls := h.subs[m.Sub]
		h.mu.Unlock()
		if ls == nil {
			continue
		}
		var l events.Live
		if err := json.Unmarshal(m.Data, &l); err != nil {
			h.log.Warn("live frame undecodable", "subject", m.Subject, "err", err)
			continue
		}
		ls.deliver(l)
	}
}

// closeAll closes every socket (closeConn: with a close frame, whose handshake may wait for the
// peer), all at once and outside h.mu (a closed socket leaves the hub), and returns when each
// has closed.
func (h *hub) closeAll() {
	h.mu.Lock()
	subs := make([]*liveSub, 0, len(h.subs))
	for _, ls := range h.subs {
		subs = append(subs, ls)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, ls := range subs {
		wg.Add(1)
		go func() { defer wg.Done(); ls.closeConn() }()
	}
	wg.Wait()
}
