// Package bus is coachwire's event transport: the NATS connection, the JetStream streams and
// consumers (created here with explicit settings, never by a library's auto-provisioning), the
// watermill router with its middleware stack, and publishing with deduplication ids.
//
// It must never deliver a message to a handler without the creator check of the subject, and
// never ack a message whose handler failed.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options tune stream creation for a deployment.
type Options struct {
	// Replicas of each stream: 1 for a single server, 3 in production clusters.
	Replicas int
	// MemoryStorage keeps streams in memory (benchmarks only).
	MemoryStorage bool
	// PublishTimeout bounds the wait for JetStream's ack of one Publish, and of a whole
	// PublishBatch after its last message was queued (default DefaultPublishTimeout).
	PublishTimeout time.Duration
	// MaxBytes and MaxMsgs bound each stream (streams.go): 0 takes DefaultStreamMaxBytes and no
	// message limit, -1 is no limit.
	MaxBytes int64
	MaxMsgs  int64
}

// Bus is a NATS connection with its JetStream contexts. Roles use only its methods (publish.go):
// they never hold the connection or a JetStream context themselves.
type Bus struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	detached jetstream.JetStream // async publishes nobody waits for (publish.go: PublishDetached)
	log      *slog.Logger
	opt      Options

	hooksMu     sync.Mutex
	onReconnect []func()
}

// OnReconnect registers fn to run, on a goroutine of its own, every time the connection comes
// back after a loss (NATS restarted, a network cut), once the subscriptions were sent again.
// Core NATS messages (Notify) published while this process was cut off, or held by a server
// that died, are gone: a listener that must not miss one (the widget hub's final messages)
// catches up from the source of truth here.
func (b *Bus) OnReconnect(fn func()) {
	b.hooksMu.Lock()
	b.onReconnect = append(b.onReconnect, fn)
	b.hooksMu.Unlock()
}

func (b *Bus) reconnected() {
	b.hooksMu.Lock()
	hooks := append([]func(){}, b.onReconnect...)
	b.hooksMu.Unlock()
	for _, fn := range hooks {
		go fn()
	}
}

// Connect dials url and prepares JetStream.
func Connect(ctx context.Context, url, name string, log *slog.Logger, opt Options) (*Bus, error) {
	b := &Bus{log: log}
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
			b.reconnected()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to NATS at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	if opt.PublishTimeout <= 0 {
		opt.PublishTimeout = DefaultPublishTimeout
	}
	if opt.Replicas == 0 {
		opt.Replicas = 1
	}
	b.nc, b.js, b.opt = nc, js, opt
	if b.detached, err = newDetached(nc, log); err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	return b, nil
}

// Close drains the connection.
func (b *Bus) Close() {
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
	}
}

// Ping checks the server answers a JetStream request.
func (b *Bus) Ping(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	_, err := b.js.AccountInfo(ctx)
	return err
}
