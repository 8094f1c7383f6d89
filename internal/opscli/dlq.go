// Package opscli holds the logic of coachwire's operator subcommands (cmd/coachwire): the
// dead-letter stream (list, show, replay, purge), reindexing documents, rotating the JWT signing
// key, the container health check and the build's version. cmd/coachwire parses the command
// line and the environment; each function here takes its connections and an output writer.
package opscli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
)

// DLQ operates on the dead-letter stream (events.StreamDLQ). An entry's ID is its sequence number
// in that stream.
type DLQ struct {
	JS jetstream.JetStream
}

// DeadLetter is one message of the dead-letter stream.
type DeadLetter struct {
	ID      uint64
	Time    time.Time
	Subject string // dlq.<stream>
	// Source is the subject the message was first published to (and is replayed to).
	Source string
	// SourceMsgID is its original Nats-Msg-Id, when the dead-letter path knew it.
	SourceMsgID string
	Reason      string
	Header      nats.Header
	Data        []byte
}

// dlqHeaders are the headers the dead-letter paths add (watermill's poison queue names the
// handler, subscriber and topic too); a replay leaves them out.
var dlqHeaders = []string{bus.ReasonHeader, bus.SourceHeader, bus.SourceMsgIDHeader, bus.MetaSubject,
	bus.MetaDelivered, bus.MetaStreamSeq, bus.MetaRedeliverAfter, nats.MsgIdHdr,
	middleware.PoisonedHandlerKey, middleware.PoisonedSubscriberKey, middleware.PoisonedTopicKey}

func (d DLQ) stream(ctx context.Context) (jetstream.Stream, error) {
	s, err := d.JS.Stream(ctx, events.StreamDLQ)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("dlq: stream %s does not exist yet (no coachwire process has connected to this NATS)", events.StreamDLQ)
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: stream %s: %w", events.StreamDLQ, err)
	}
	return s, nil
}

// List returns every message of the dead-letter stream, oldest first.
func (d DLQ) List(ctx context.Context) ([]DeadLetter, error) {
	s, err := d.stream(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	var out []DeadLetter
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted (replayed) or purged
		}
		if err != nil {
			return nil, fmt.Errorf("dlq: message %d: %w", seq, err)
		}
		out = append(out, deadLetter(raw))
	}
	return out, nil
}

// Get returns the dead letter id.
func (d DLQ) Get(ctx context.Context, id uint64) (DeadLetter, error) {
	s, err := d.stream(ctx)
	if err != nil {
		return DeadLetter{}, err
	}
	raw, err := s.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("dlq: no message %d in %s (see coachwire dlq list)", id, events.StreamDLQ)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dlq: message %d: %w", id, err)
	}
	return deadLetter(raw), nil
}

func deadLetter(raw *jetstream.RawStreamMsg) DeadLetter {
	return DeadLetter{ID: raw.Sequence, Time: raw.Time, Subject: raw.Subject, Source: raw.Header.Get(bus.SourceHeader),
		SourceMsgID: raw.Header.Get(bus.SourceMsgIDHeader), Reason: raw.Header.Get(bus.ReasonHeader), Header: raw.Header, Data: raw.Data}
}

// Replayed is the outcome of replaying one dead letter.
type Replayed struct {
	DeadLetter
	// MsgID is the Nats-Msg-Id the replay was published under.
	MsgID string
}

// Replay publishes the dead letter id again to its source subject, with its original body and
// headers (so the handler sees the same event id and correlation id and dedupes what it already
// did) under its original Nats-Msg-Id, then deletes it from the dead-letter stream. When the
// original is still inside its stream's duplicate window, JetStream would drop a publish under
// the same id, so the replay is then published as "<id>:replay:<dlq seq>" instead. With dryRun it
// only reports what it would do.
func (d DLQ) Replay(ctx context.Context, id uint64, dryRun bool) (Replayed, error) {
	dl, err := d.Get(ctx, id)
	if err != nil {
		return Replayed{}, err
	}
	r := Replayed{DeadLetter: dl, MsgID: dl.SourceMsgID}
	if dl.Source == "" {
		return r, fmt.Errorf("dlq: message %d has no %s header: its original subject is unknown", id, bus.SourceHeader)
	}
	if r.MsgID == "" {
		r.MsgID = "replay:" + strconv.FormatUint(id, 10)
	}
	if dryRun {
		return r, nil
	}
	m := &nats.Msg{Subject: dl.Source, Data: dl.Data, Header: nats.Header{}}
	for k, v := range dl.Header {
		if !slices.Contains(dlqHeaders, k) {
			m.Header[k] = v
		}
	}
	m.Header.Set(nats.MsgIdHdr, r.MsgID)
	ack, err := d.JS.PublishMsg(ctx, m)
	if err != nil {
		return r, fmt.Errorf("dlq: replay %d to %s: %w", id, dl.Source, err)
	}
	if ack.Duplicate && dl.SourceMsgID != "" {
		r.MsgID = dl.SourceMsgID + ":replay:" + strconv.FormatUint(id, 10)
		m.Header.Set(nats.MsgIdHdr, r.MsgID)
		if _, err := d.JS.PublishMsg(ctx, m); err != nil {
			return r, fmt.Errorf("dlq: replay %d to %s: %w", id, dl.Source, err)
		}
	}
	s, err := d.stream(ctx)
	if err != nil {
		return r, err
	}
	if err := s.DeleteMsg(ctx, id); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return r, fmt.Errorf("dlq: replayed %d but could not remove it from %s: %w", id, events.StreamDLQ, err)
	}
	return r, nil
}

// Purge deletes the dead letters there are when it reads the stream (not one written after)
// and returns how many there were.
func (d DLQ) Purge(ctx context.Context) (uint64, error) {
	s, err := d.stream(ctx)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("dlq: %w", err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(info.State.LastSeq+1)); err != nil {
		return 0, fmt.Errorf("dlq: purge: %w", err)
	}
	return info.State.Msgs, nil
}

// WriteList writes dead letters as a table: id, time, source subject, reason.
func WriteList(w io.Writer, dls []DeadLetter) error {
	if len(dls) == 0 {
		_, err := fmt.Fprintln(w, "the dead-letter stream is empty")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDEAD-LETTERED\tSOURCE SUBJECT\tREASON")
	for _, dl := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", dl.ID, dl.Time.UTC().Format(time.RFC3339), dl.Source, oneLine(dl.Reason, 100))
	}
	return tw.Flush()
}

// WriteShow writes one dead letter: where it came from, why, its headers and its body
// (indented when it is JSON).
func WriteShow(w io.Writer, dl DeadLetter) error {
	fmt.Fprintf(w, "id:             %d\n", dl.ID)
	fmt.Fprintf(w, "dead-lettered:  %s\n", dl.Time.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(w, "subject:        %s\n", dl.Subject)
	fmt.Fprintf(w, "source subject: %s\n", dl.Source)
	fmt.Fprintf(w, "source msg id:  %s\n", dl.SourceMsgID)
	fmt.Fprintf(w, "reason:         %s\n", dl.Reason)
	fmt.Fprintln(w, "headers:")
	keys := make([]string, 0, len(dl.Header))
	for k := range dl.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(dl.Header[k], ", "))
	}
	fmt.Fprintln(w, "body:")
	var v any
	if json.Unmarshal(dl.Data, &v) == nil {
		b, _ := json.MarshalIndent(v, "  ", "  ")
		_, err := fmt.Fprintf(w, "  %s\n", b)
		return err
	}
	_, err := fmt.Fprintf(w, "  %q\n", dl.Data)
	return err
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
