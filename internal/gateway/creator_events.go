package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
)

// activity publishes a live update for the creator's dashboard (core NATS, best effort).
func (s *Server) activity(c uuid.UUID, a events.Activity) {
	if err := s.Bus.NotifyJSON(events.ActivitySubject(c), a); err != nil {
		s.Log.Debug("activity publish failed", "err", err)
	}
}

// handleConversationEvents streams the creator's live updates as Server-Sent Events: new
// messages, delivery status changes and takeovers, of this creator only (the subject carries
// the authenticated creator id). Events are not replayed: after a reconnect the dashboard
// reloads from the conversations API.
func (s *Server) handleConversationEvents(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	rc := http.NewResponseController(w)
	ch := make(chan *nats.Msg, 256)
	sub, err := s.Bus.Listen(r.Context(), events.ActivitySubject(a.CreatorID), ch)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": connected\n\n"); err != nil {
		return nil
	}
	_ = rc.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
		case m := <-ch:
			var ev events.Activity
			if json.Unmarshal(m.Data, &ev) != nil || ev.Kind == "" {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Kind, m.Data); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}
