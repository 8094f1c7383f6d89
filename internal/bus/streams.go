package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/coachwire/coachwire/events"
)

// Stream settings (docs/operations.md "Replicas and the cluster").
//
// Every stream keeps limits retention (messages stay until MaxAge, so the dead-letter tools and
// an operator can read history) and is bounded in size by Options.MaxBytes and MaxMsgs with
// DiscardNew: a full stream refuses a publish (the publisher gets an error: the gateway answers
// 503, a role's handler fails and its own message is redelivered) and never deletes a message
// to make room. DiscardOld would delete the oldest message, which is unprocessed work whenever
// a consumer is behind by more than the limit: a silent loss. Interest or work-queue retention
// (processed messages removed at once) is not used either: JetStream deletes a message that no
// consumer is interested in when it is published, and the durable consumers only exist once
// their role started once (a fresh deployment whose gateway starts first would lose its first
// messages), and the dead-letter stream has no consumer at all.
//
// So that a full stream of processed history does not refuse new work until MaxAge passes, a
// publish that finds its stream full compacts it first: it deletes the messages every consumer
// of the stream has acknowledged (below the lowest ack floor), never one still pending for
// anybody, and tries once more. A stream with no consumer (the dead-letter stream) is never
// compacted: it refuses until an operator purges it (coachwire dlq purge) or MaxAge expires it.

// DefaultStreamMaxBytes is each stream's size limit when Options.MaxBytes is 0: room for about
// 60 000 unprocessed questions of 4 KB per stream. JetStream reserves a file stream's limit on
// every server holding a replica, so the ten streams need 2.5 GiB of free disk on each.
const DefaultStreamMaxBytes = 256 << 20

// ErrStreamFull wraps a publish refused because the stream is at its size limit with nothing
// processed left to remove: the consumers are that far behind, or one is stuck.
var ErrStreamFull = errors.New("bus: stream full")

// streamConfig is the configuration of s under b's options.
func (b *Bus) streamConfig(s events.StreamSpec) jetstream.StreamConfig {
	storage := jetstream.FileStorage
	maxBytes, maxMsgs := b.opt.MaxBytes, b.opt.MaxMsgs
	if maxBytes == 0 {
		maxBytes = DefaultStreamMaxBytes
		if b.opt.MemoryStorage {
			// Benchmarks: memory streams are reserved against the server's memory limit.
			maxBytes = -1
		}
	}
	if b.opt.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	if s.Name == events.StreamDLQ {
		// Never full: a dead letter that cannot be written would be lost (its source consumer
		// has given up on it and compaction may remove it). MaxAge (30 days) still bounds it;
		// the CoachwireDeadLetters alert watches it grow.
		maxBytes, maxMsgs = -1, -1
	}
	if maxMsgs == 0 {
		maxMsgs = -1
	}
	return jetstream.StreamConfig{
		Name:       s.Name,
		Subjects:   s.Subjects,
		Retention:  jetstream.LimitsPolicy,
		Storage:    storage,
		Replicas:   b.opt.Replicas,
		MaxAge:     s.MaxAge,
		MaxBytes:   maxBytes,
		MaxMsgs:    maxMsgs,
		Duplicates: events.DuplicateWindow,
		Discard:    jetstream.DiscardNew,
	}
}

// EnsureStreams creates every stream of events.Streams, and reconciles an existing one whose
// settings differ (COACHWIRE_STREAM_REPLICAS or a size limit changed): JetStream moves a live
// stream to the new replica count (a replica is added by copying the stream to another server).
// Each change is logged.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	for _, s := range events.Streams {
		if err := b.ensureStream(ctx, b.streamConfig(s)); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bus) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) error {
	st, err := b.js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = b.js.CreateStream(ctx, cfg)
		if err == nil {
			b.log.Debug("stream created", "stream", cfg.Name, "replicas", cfg.Replicas, "max_bytes", cfg.MaxBytes, "max_msgs", cfg.MaxMsgs)
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return b.streamError(cfg, err)
		}
		st, err = b.js.Stream(ctx, cfg.Name) // another process created it meanwhile
	}
	if err != nil {
		return b.streamError(cfg, err)
	}
	old := st.CachedInfo().Config
	if cfg.Replicas < old.Replicas {
		// Never lowered by a process: one started without COACHWIRE_STREAM_REPLICAS (a one-off
		// worker, a developer's shell) would otherwise turn a production R3 stream into R1.
		b.log.Warn("stream has more replicas than this process asks for: kept (lower them with the nats CLI)",
			"stream", cfg.Name, "replicas", old.Replicas, "asked", cfg.Replicas)
		cfg.Replicas = old.Replicas
	}
	changes := streamChanges(old, cfg)
	if len(changes) == 0 {
		return nil
	}
	if _, err := b.js.UpdateStream(ctx, cfg); err != nil {
		return b.streamError(cfg, fmt.Errorf("update (%s): %w", strings.Join(changes, ", "), err))
	}
	b.log.Info("stream settings reconciled", "stream", cfg.Name, "changes", strings.Join(changes, ", "))
	return nil
}

func (b *Bus) streamError(cfg jetstream.StreamConfig, err error) error {
	hint := ""
	if cfg.Replicas > 1 {
		hint = fmt.Sprintf(" (COACHWIRE_STREAM_REPLICAS=%d needs a NATS cluster of at least %d JetStream servers)", cfg.Replicas, cfg.Replicas)
	}
	if strings.Contains(err.Error(), "insufficient") {
		hint += fmt.Sprintf(" (each stream reserves its size limit, COACHWIRE_STREAM_MAX_BYTES=%d, on every server holding a replica)", cfg.MaxBytes)
	}
	return fmt.Errorf("bus: stream %s: %w%s", cfg.Name, err, hint)
}

// streamChanges lists the settings of want that differ from the stream's, as "name old→new".
func streamChanges(have, want jetstream.StreamConfig) []string {
	var out []string
	add := func(name string, o, n any) {
		if fmt.Sprint(o) != fmt.Sprint(n) {
			out = append(out, fmt.Sprintf("%s %v→%v", name, o, n))
		}
	}
	add("replicas", have.Replicas, want.Replicas)
	add("max_bytes", have.MaxBytes, want.MaxBytes)
	add("max_msgs", have.MaxMsgs, want.MaxMsgs)
	add("discard", have.Discard, want.Discard)
	add("max_age", have.MaxAge, want.MaxAge)
	add("subjects", have.Subjects, want.Subjects)
	add("duplicates", have.Duplicates, want.Duplicates)
	return out
}

// isStreamFull reports whether err is JetStream refusing a message because its stream is at
// its size limit (DiscardNew).
func isStreamFull(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "maximum bytes exceeded") || strings.Contains(s, "maximum messages exceeded")
}

// compact deletes from subject's stream every message all its consumers acknowledged, and
// reports whether it deleted any (then a refused publish is worth trying again).
func (b *Bus) compact(ctx context.Context, subject string) bool {
	name, err := b.js.StreamNameBySubject(ctx, subject)
	if err != nil {
		b.log.Warn("stream full: no stream for subject", "subject", subject, "err", err)
		return false
	}
	st, err := b.js.Stream(ctx, name)
	if err != nil {
		b.log.Warn("stream full: stream info", "stream", name, "err", err)
		return false
	}
	// Read before the consumers: a message published meanwhile is above last, never removed.
	first, last := st.CachedInfo().State.FirstSeq, st.CachedInfo().State.LastSeq
	var floor uint64
	n := 0
	lister := st.ListConsumers(ctx)
	for ci := range lister.Info() {
		// Everything at or below a consumer's ack floor is acknowledged. With nothing awaiting
		// an ack, everything it was handed is, and what lies between is not for it (a filtered
		// consumer skips other subjects without moving its ack floor); with nothing pending
		// either, no message of the stream is still for it.
		f := ci.AckFloor.Stream
		if ci.NumAckPending == 0 {
			f = max(f, ci.Delivered.Stream)
			if ci.NumPending == 0 {
				f = last
			}
		}
		f = min(f, last)
		if f < first {
			f = max(first, 1) - 1
		}
		if n == 0 || f < floor {
			floor = f
		}
		n++
	}
	if err := lister.Err(); err != nil {
		b.log.Warn("stream full: list consumers", "stream", name, "err", err)
		return false
	}
	if n == 0 || floor < first {
		b.log.Error("stream full: nothing processed to remove; publishes are refused until consumers catch up or an operator purges it",
			"stream", name, "consumers", n, "messages", st.CachedInfo().State.Msgs, "bytes", st.CachedInfo().State.Bytes)
		return false
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSequence(floor+1)); err != nil {
		b.log.Warn("stream full: purge processed messages", "stream", name, "err", err)
		return false
	}
	b.log.Warn("stream full: removed the messages every consumer acknowledged", "stream", name, "below_seq", floor+1,
		"removed", floor+1-first)
	return true
}
