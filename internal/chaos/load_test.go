package chaos_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/testenv"
)

// Every inbound message carries a token ("qw-000012": w widget, a WhatsApp, t Telegram); the
// model double quotes the question, so a reply names the questions it answers.
var tokenRE = regexp.MustCompile(`q[wat]-[0-9]{6}`)

// item is one inbound message of the load.
type item struct {
	kind    string // widget, whatsapp, telegram
	who     string // widget end user (anon id), phone number or chat id
	id      string // widget client id, wamid, update id
	inbound uuid.UUID
	token   string
	phase   int
	created time.Time

	accepted   bool
	acceptedAt time.Time
	// widget: reply message ids received (a replayed frame of the same reply counts once).
	widgetReplies map[string]bool
}

// ledger records the load's items.
type ledger struct {
	mu      sync.Mutex
	items   []*item
	byToken map[string]*item
	byID    map[string]*item // widget: client id and derived inbound id
	seq     atomic.Int64
}

func newLedger() *ledger {
	return &ledger{byToken: map[string]*item{}, byID: map[string]*item{}}
}

func (l *ledger) add(kind, who, id string, inbound uuid.UUID, phase int) *item {
	n := l.seq.Add(1)
	letter := map[string]string{"widget": "w", "whatsapp": "a", "telegram": "t"}[kind]
	it := &item{kind: kind, who: who, id: id, inbound: inbound, phase: phase, created: time.Now(),
		token: fmt.Sprintf("q%s-%06d", letter, n), widgetReplies: map[string]bool{}}
	l.mu.Lock()
	l.items = append(l.items, it)
	l.byToken[it.token] = it
	l.byID[id] = it
	if inbound != uuid.Nil {
		l.byID[inbound.String()] = it
	}
	l.mu.Unlock()
	return it
}

func (l *ledger) accept(it *item) {
	l.mu.Lock()
	if !it.accepted {
		it.accepted, it.acceptedAt = true, time.Now()
	}
	l.mu.Unlock()
}

func (l *ledger) isAccepted(it *item) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return it.accepted
}

// widgetReply records a final assistant message received by a widget: it answers the items
// whose tokens it quotes, else the item it replies to.
func (l *ledger) widgetReply(f testenv.Frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var hit []*item
	for _, tok := range tokenRE.FindAllString(f.Text, -1) {
		if it := l.byToken[tok]; it != nil && it.kind == "widget" {
			hit = append(hit, it)
		}
	}
	if len(hit) == 0 {
		if it := l.byID[f.ReplyTo]; it != nil {
			hit = append(hit, it)
		}
	}
	for _, it := range hit {
		it.widgetReplies[f.ID] = true
	}
}

func (l *ledger) widgetAnswered(it *item) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(it.widgetReplies) > 0
}

func (l *ledger) snapshot() []*item {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*item(nil), l.items...)
}

// load drives the end users.
type load struct {
	c       *cluster
	api     *testenv.Client
	creator testenv.Creator
	l       *ledger
	phase   func() int
	// stopped: no new items (the widgets keep reconnecting and re-sending until done).
	stopped atomic.Bool
	done    chan struct{}
	wg      sync.WaitGroup

	// widget behaviour, for the report
	reconnects, resends, unavailable, rateLimited atomic.Int64

	waChannel, tgChannel string // webhook URLs
	tgSecret             string
	updateID             atomic.Int64
}

const (
	replyWait = 20 * time.Second // a sender waits this long for an answer before its next message
	think     = 700 * time.Millisecond
	// widgetEvery spaces a widget user's messages under the widget's limit (5 per 10 s).
	widgetEvery = 2200 * time.Millisecond
)

func sleepOr(done <-chan struct{}, d time.Duration) bool {
	select {
	case <-done:
		return false
	case <-time.After(d):
		return true
	}
}

// do is one JSON API call that never fails the test (the gateway may be down).
func (ld *load) do(method, path string, body, out any) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ld.api.Do(ctx, method, path, "", body, out)
}

// widgetUser behaves like the real widget: one session, a socket that is re-dialled whenever it
// drops, `resume` from the last seq seen, and every message re-sent with its id until acked
// (after an `unavailable`, `retry` or `rate_limited` error frame, and after each reconnect).
func (ld *load) widgetUser(n int) {
	defer ld.wg.Done()
	anon := fmt.Sprintf("chaos-anon-%d-%s", n, uuid.NewString()[:6])
	var sess testenv.WidgetSession
	for {
		st, _, err := ld.do("POST", "/api/v1/widget/session", map[string]string{"widget_key": ld.creator.WidgetKey, "anon_id": anon}, &sess)
		if err == nil && st == http.StatusOK {
			break
		}
		if !sleepOr(ld.done, 500*time.Millisecond) {
			return
		}
	}
	type pend struct {
		it     *item
		text   string
		sendAt time.Time // next (re)send; zero: sent, waiting for the ack
	}
	var (
		ws      *testenv.WidgetConn
		lastSeq int64
		unacked []*pend
		current *item
		nextAt  = time.Now()
		dialed  bool
	)
	send := func(p *pend) {
		if ws == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := ws.SendJSON(ctx, map[string]string{"type": "message", "id": p.it.id, "text": p.text})
		cancel()
		if err == nil {
			p.sendAt = time.Time{}
		} else {
			p.sendAt = time.Now().Add(500 * time.Millisecond)
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	defer func() {
		if ws != nil {
			ws.CloseNow()
		}
	}()
	for {
		select {
		case <-ld.done:
			return
		default:
		}
		if ws == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, _, err := ld.api.DialWidget(ctx, sess, lastSeq, nil)
			cancel()
			if err != nil {
				if !sleepOr(ld.done, 500*time.Millisecond) {
					return
				}
				continue
			}
			if dialed {
				ld.reconnects.Add(1)
			}
			ws, dialed = c, true
			for _, p := range unacked {
				ld.resends.Add(1)
				send(p)
			}
		}
		now := time.Now()
		if !ld.stopped.Load() && now.After(nextAt) && (current == nil || ld.l.widgetAnswered(current) || now.Sub(current.created) > replyWait) {
			id := uuid.New()
			it := ld.l.add("widget", anon, id.String(), ids.InboundMessage(ld.creator.ID, events.ChannelWidget, id.String()), ld.phase())
			p := &pend{it: it, text: "How do I keep a steady sleep schedule? (ref " + it.token + ")"}
			unacked = append(unacked, p)
			current = it
			nextAt = now.Add(widgetEvery)
			send(p)
		}
		for _, p := range unacked {
			if !p.sendAt.IsZero() && now.After(p.sendAt) {
				ld.resends.Add(1)
				send(p)
			}
		}
		select {
		case <-ld.done:
			return
		case <-tick.C:
		case f, ok := <-ws.Frames:
			if !ok {
				ws.CloseNow()
				ws = nil
				// The frames of the old socket are gone; whatever was not acked is re-sent on
				// the next socket.
				for _, p := range unacked {
					p.sendAt = time.Now()
				}
				continue
			}
			switch {
			case f.Type == "ack":
				for i, p := range unacked {
					if p.it.id == f.ID {
						ld.l.accept(p.it)
						unacked = append(unacked[:i], unacked[i+1:]...)
						break
					}
				}
			case f.Type == "error" && f.ID != "":
				for _, p := range unacked {
					if p.it.id != f.ID {
						continue
					}
					switch f.Code {
					case "unavailable", "retry": // retry: the publish was not confirmed (NATS down)
						ld.unavailable.Add(1)
						p.sendAt = time.Now().Add(500 * time.Millisecond)
					case "rate_limited":
						ld.rateLimited.Add(1)
						p.sendAt = time.Now().Add(2 * time.Second)
					}
				}
			case f.Type == "error" && f.Code == "unavailable":
				// History could not be loaded: resume again shortly.
				go func(ws *testenv.WidgetConn, seq int64) {
					time.Sleep(time.Second)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_ = ws.SendJSON(ctx, map[string]any{"type": "resume", "last_seq": seq})
				}(ws, lastSeq)
			case testenv.IsReply(f):
				lastSeq = max(lastSeq, f.Seq)
				ld.l.widgetReply(f)
			case f.Type == "message":
				lastSeq = max(lastSeq, f.Seq)
			}
		}
	}
}

// postWebhook posts until the gateway answers 200 (as Meta and Telegram retry a webhook that
// failed) or the run ends; it reports whether the webhook was accepted.
func (ld *load) postWebhook(url string, body []byte, header ...string) bool {
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		if !sleepOr(ld.done, 500*time.Millisecond) {
			return false
		}
	}
}

func (ld *load) answeredOnProvider(it *item) bool {
	switch it.kind {
	case "whatsapp":
		for _, s := range ld.c.wa.SentTo(it.who) {
			if bytes.Contains([]byte(s.Text), []byte(it.token)) {
				return true
			}
		}
	case "telegram":
		chat, _ := strconv.ParseInt(it.who, 10, 64)
		for _, s := range ld.c.tg.SentTo(chat) {
			if bytes.Contains([]byte(s.Text), []byte(it.token)) {
				return true
			}
		}
	}
	return false
}

// channelUser sends signed webhooks for one WhatsApp phone or Telegram chat: a question, then
// the next once it is answered (or after replyWait).
func (ld *load) channelUser(kind, who string) {
	defer ld.wg.Done()
	for !ld.stopped.Load() {
		var (
			it      *item
			url     string
			body    []byte
			headers []string
		)
		switch kind {
		case "whatsapp":
			wamid := whatsapptest.NewWAMID()
			it = ld.l.add(kind, who, wamid, uuid.Nil, ld.phase())
			body = whatsapptest.TextMessagePayload(whatsapptest.DefaultPhoneNumberID, whatsapptest.Msg{
				WAMID: wamid, From: who, Name: "Wa " + who, Text: "What helps me fall asleep faster? (ref " + it.token + ")"})
			url, headers = ld.waChannel, []string{whatsapp.SignatureHeader, whatsapp.Sign(waAppSecret, body)}
		case "telegram":
			uid := ld.updateID.Add(1)
			chat, _ := strconv.ParseInt(who, 10, 64)
			it = ld.l.add(kind, who, strconv.FormatInt(uid, 10), uuid.Nil, ld.phase())
			body = telegramtest.UpdatePayload(uid, chat, chat, "Should I nap in the afternoon? (ref "+it.token+")")
			url, headers = ld.tgChannel, []string{telegram.SecretHeader, ld.tgSecret}
		}
		if !ld.postWebhook(url, body, headers...) {
			return
		}
		ld.l.accept(it)
		deadline := time.Now().Add(replyWait)
		for time.Now().Before(deadline) && !ld.stopped.Load() && !ld.answeredOnProvider(it) {
			if !sleepOr(ld.done, 100*time.Millisecond) {
				return
			}
		}
		if !sleepOr(ld.done, think) {
			return
		}
	}
}

// upload adds one Markdown document (the creator's API), retrying for up to 60 s like a
// client would, and returns its id ("" when the gateway never accepted it) and the status of
// every refused attempt.
func (ld *load) upload(phase int) (string, []int) {
	var doc struct {
		ID string `json:"id"`
	}
	body := map[string]string{"title": fmt.Sprintf("Chaos notes %d", phase), "format": "markdown",
		"content": fmt.Sprintf("# Evening light %d\n\nDim the lights an hour before bed; blue light delays melatonin.\n\n## Naps\n\nKeep naps under twenty minutes and before 3 pm.\n", phase)}
	var refused []int
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, _, err := ld.api.Do(ctx, "POST", "/api/v1/documents", ld.creator.AccessToken, body, &doc)
		cancel()
		if err == nil && (st == http.StatusAccepted || st == http.StatusOK) && doc.ID != "" {
			return doc.ID, refused // 200: the same document was already stored by a refused attempt
		}
		refused = append(refused, st) // 0: no answer
		if !sleepOr(ld.done, time.Second) {
			break
		}
	}
	return "", refused
}

func (ld *load) docStatus(id string) string {
	var d struct {
		Status string `json:"status"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if st, _, err := ld.api.Do(ctx, "GET", "/api/v1/documents/"+id, ld.creator.AccessToken, nil, &d); err != nil || st != http.StatusOK {
		return "unknown"
	}
	return d.Status
}
