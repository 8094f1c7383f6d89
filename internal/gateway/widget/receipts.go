package widget

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
)

// Widget receipts. Only the gateway knows that a widget message reached the person (it wrote
// the frame to their socket) and that they saw it (the widget's seen frame). It reports both as
// delivery.status.v1 events on the delivery stream, published asynchronously so a socket never
// waits for JetStream; dispatch's delivery consumer records them on the messages.
const (
	// A widget reports what it has seen at most once a second; more than this is dropped with
	// a rate_limited error frame.
	wsSeenEvery = 500 * time.Millisecond
	wsSeenBurst = 4
)

// publishReceipt hands a widget receipt to the delivery stream under the deduplication id
// msgID and returns without waiting for JetStream. A receipt that cannot be queued is logged
// and dropped: the message keeps its earlier status, nothing else depends on it.
func (s *Server) publishReceipt(c uuid.UUID, msgID string, st events.DeliveryStatus) {
	if s.Bus == nil {
		return
	}
	m, err := bus.Event(events.DeliverySubject(c), msgID, events.New(c, st, nil, s.Now()))
	if err == nil {
		err = s.Bus.PublishDetached(m)
	}
	if err != nil {
		s.Log.Warn("widget receipt not published", "creator_id", c, "receipt", msgID, "err", err)
	}
}

// written runs after a message frame was written to the socket: the message is delivered.
func (ss *wsSession) written(f serverFrame) {
	for cur := ss.maxWritten.Load(); f.Seq > cur; cur = ss.maxWritten.Load() {
		if ss.maxWritten.CompareAndSwap(cur, f.Seq) { // the reader and the live writer both write
			break
		}
	}
	if f.receipt == uuid.Nil {
		return
	}
	c := ss.claims
	ss.srv.publishReceipt(c.CreatorID, "delivered:"+f.receipt.String(), events.DeliveryStatus{
		MessageID: f.receipt, Channel: claimsChannel(c), Status: "delivered", ConversationID: c.ConversationID})
}

// seen records that the person saw the conversation up to seq (the widget sends it while the
// chat is open and visible): every bot and creator message of the session's conversation up to
// it becomes read. seq must not be past the conversation's newest such message; a seq that is
// not ahead of the last one reported on this socket changes nothing.
func (ss *wsSession) seen(ctx context.Context, seq int64) {
	if seq <= 0 {
		ss.sendError(ctx, "bad_seq", "seen needs the seq of a message the widget shows")
		return
	}
	if seq <= ss.seenSeq {
		return
	}
	if !ss.seenLimit.Allow() {
		ss.sendError(ctx, "rate_limited", "too many seen frames, slow down")
		return
	}
	c := ss.claims
	if seq > ss.maxWritten.Load() {
		// Not written on this socket (the widget may show it from before a reload): the
		// conversation must have it.
		var last int64
		err := ss.srv.Store.InTenant(ctx, c.CreatorID, func(q *db.Queries) error {
			var err error
			last, err = q.LastOutboundSeq(ctx, c.ConversationID)
			return err
		})
		if err != nil {
			ss.log.Error("widget socket: seen", "seq", seq, "err", err)
			return // not recorded; the widget reports again after a reconnect
		}
		if seq > last {
			ss.sendError(ctx, "bad_seq", "seq is past the conversation's messages")
			return
		}
	}
	ss.seenSeq = seq
	ss.srv.publishReceipt(c.CreatorID, "read:"+c.ConversationID.String()+":"+strconv.FormatInt(seq, 10), events.DeliveryStatus{
		Channel: claimsChannel(c), Status: "read", ConversationID: c.ConversationID, UpToSeq: seq})
}
