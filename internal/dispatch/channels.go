package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/db"
)

// WhatsApp's customer service window: free-form messages only within 24 h of the user's last
// message.
const whatsappWindow = 24 * time.Hour

// telegramPerGroup is Telegram's limit in one group or channel: about 20 messages a minute.
const telegramPerGroup = 20.0 / 60

// accountTTL bounds how long decrypted credentials of a channel are cached in memory.
const accountTTL = time.Minute

// account is a channel ready to send: its client and settings.
type account struct {
	id      uuid.UUID
	typ     string
	cfg     channels.Config
	wa      *whatsapp.Client
	tg      *telegram.Client
	loaded  time.Time
	limitID string // phone number id or channel id: the key of the number/bot bucket
	appID   string // WhatsApp: the app the access token belongs to (a hash of the token)
}

type accounts struct {
	mu sync.Mutex
	m  map[uuid.UUID]*account
}

// channelAccount returns the cached account of ch, building it (decrypting its credentials)
// when missing or stale.
func (w *Worker) channelAccount(ch db.Channel) (*account, error) {
	w.accts.mu.Lock()
	defer w.accts.mu.Unlock()
	if w.accts.m == nil {
		w.accts.m = map[uuid.UUID]*account{}
	}
	if a, ok := w.accts.m[ch.ID]; ok && time.Since(a.loaded) < accountTTL {
		return a, nil
	}
	cfg, err := channels.ParseConfig(ch.Config)
	if err != nil {
		return nil, bus.Permanent(fmt.Errorf("dispatch: channel %s config: %w", ch.ID, err))
	}
	if w.Keys == nil {
		return nil, bus.Permanent(errors.New("dispatch: no secrets keyring configured"))
	}
	cred, err := w.Keys.OpenChannel(ch.ID, ch.Secrets)
	if err != nil {
		// Not permanent: during a key rollout another replica may hold the key. Every dispatch
		// replica must load the same COACHWIRE_SECRET_KEYS.
		return nil, fmt.Errorf("dispatch: %w", err)
	}
	a := &account{id: ch.ID, typ: ch.Type, cfg: cfg, loaded: time.Now(), limitID: ch.ID.String()}
	switch ch.Type {
	case events.ChannelWhatsApp:
		a.wa = whatsapp.NewClient(whatsapp.Config{PhoneNumberID: cfg.PhoneNumberID, AccessToken: cred.AccessToken,
			APIVersion: cfg.APIVersion, BaseURL: w.WhatsAppURL}, w.httpClient())
		a.limitID = cfg.PhoneNumberID
		// Numbers sending with one access token share its app's (and business account's)
		// limits: the app bucket is keyed by the token, never stored or logged in clear.
		sum := sha256.Sum256([]byte(cred.AccessToken))
		a.appID = hex.EncodeToString(sum[:8])
	case events.ChannelTelegram:
		a.tg = telegram.NewClient(cred.BotToken, w.TelegramURL, w.httpClient())
	default:
		return nil, bus.Permanent(fmt.Errorf("dispatch: channel %s has unknown type %q", ch.ID, ch.Type))
	}
	w.accts.m[ch.ID] = a
	return a, nil
}

func (w *Worker) httpClient() *http.Client {
	w.httpOnce.Do(func() {
		if w.HTTP == nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 128
			w.HTTP = &http.Client{Timeout: w.limits.CallTimeout, Transport: t}
		}
	})
	return w.HTTP
}

// slots are the buckets one send to recipient takes a token from, narrowest first.
func (w *Worker) slots(a *account, recipient string) []slot {
	l := w.limits
	switch a.typ {
	case events.ChannelApp:
		return appSlots(a, recipient) // app.go
	case events.ChannelWhatsApp:
		return []slot{
			{key: "wa-pair:" + a.limitID + "/" + recipient, rate: rate.Every(l.WhatsAppPairEvery), burst: l.WhatsAppPairBurst, scope: channels.ScopePair},
			{key: "wa:" + a.limitID, rate: rate.Limit(l.WhatsAppPerNumber * l.Margin), burst: 1, scope: channels.ScopeNumber},
			// No rate of its own: it carries the app's and business account's retry_after.
			{key: "wa-app:" + a.appID, rate: rate.Inf, burst: 1, scope: channels.ScopeApp},
		}
	default:
		chat := rate.Limit(l.TelegramPerChat * l.Margin)
		if strings.HasPrefix(recipient, "-") {
			chat = rate.Limit(telegramPerGroup * l.Margin) // groups and channels: 20 a minute
		}
		return []slot{
			{key: "tg-chat:" + a.limitID + "/" + recipient, rate: chat, burst: 1, scope: channels.ScopePair},
			{key: "tg:" + a.limitID, rate: rate.Limit(l.TelegramPerBot * l.Margin), burst: 1, scope: channels.ScopeNumber},
		}
	}
}

// delivery is everything a channel send needs, loaded in one transaction.
type delivery struct {
	msg  db.Message
	conv db.Conversation
	user db.EndUser
	ch   db.Channel
}

// claimDelivery reads the outbound message with its conversation and end user and claims it in
// the send log; claimed is false when it was already delivered or failed for good.
func claimDelivery(ctx context.Context, q *db.Queries, c uuid.UUID, out events.MessageOutbound) (d delivery, claimed bool, err error) {
	if d.msg, err = q.GetMessage(ctx, out.MessageID); err != nil {
		return d, false, err
	}
	if d.conv, err = q.GetConversation(ctx, d.msg.ConversationID); err != nil {
		return d, false, err
	}
	if d.user, err = q.GetEndUser(ctx, d.conv.EndUserID); err != nil {
		return d, false, err
	}
	if _, err = q.ClaimChannelDelivery(ctx, db.ClaimChannelDeliveryParams{MessageID: d.msg.ID, CreatorID: c, Channel: out.Channel}); err != nil {
		if db.IsNotFound(err) {
			return d, false, nil // already delivered or failed for good
		}
		return d, false, err
	}
	return d, true, nil
}

// handleChannel delivers a stored message on WhatsApp or Telegram: claim in the send log, then
// each part (4096-character pieces) claimed and sent once, within the provider's limits.
func (w *Worker) handleChannel(msg *message.Message) error {
	return w.deferThrottled(msg, w.deliverChannel(msg), "provider limit: reply deferred")
}

// deferThrottled turns a delivery paused by a provider or push service (or our own limit) for
// longer than MaxWait into one deferred delivery that comes back when the pause ends, instead of
// burning deliveries on a backoff; any other result is returned as it is.
func (w *Worker) deferThrottled(msg *message.Message, err error, logMsg string) error {
	var te throttledError
	if !errors.As(err, &te) {
		return err
	}
	wait := max(time.Until(te.until), time.Second)
	w.Log.InfoContext(msg.Context(), logMsg, "message_id", msg.UUID, "key", te.key, "for", wait.Round(time.Millisecond))
	bus.Defer(msg, wait)
	return nil
}

func (w *Worker) deliverChannel(msg *message.Message) error {
	ev, err := bus.Decode[events.MessageOutbound](msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	c, out := ev.CreatorID, ev.Data
	var (
		d       delivery
		claimed bool
		noChan  bool
	)
	err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		var err error
		if d, claimed, err = claimDelivery(ctx, q, c, out); err != nil || !claimed {
			return err
		}
		if !d.conv.ChannelID.Valid {
			noChan = true
			return nil
		}
		d.ch, err = q.GetChannel(ctx, d.conv.ChannelID.UUID)
		if db.IsNotFound(err) {
			noChan, err = true, nil
		}
		return err
	})
	if err != nil {
		if db.IsNotFound(err) {
			return bus.Permanent(fmt.Errorf("dispatch: message %s: %w", out.MessageID, err))
		}
		return err
	}
	if !claimed {
		w.Log.DebugContext(ctx, "already delivered", "creator_id", c, "message_id", out.MessageID)
		return nil
	}
	log := w.Log.With("creator_id", c, "correlation_id", ev.CorrelationID, "message_id", d.msg.ID, "channel", out.Channel)
	if proactive(d.msg) && d.user.OptedOutAt != nil {
		// The send policy decided before the person opted out (the message waited in the queue
		// or for the provider's rate limit): an opt-out stops it up to the last moment.
		log.InfoContext(ctx, "proactive message not sent: the person opted out after it was decided", "end_user_id", d.user.ID)
		return w.finish(ctx, c, d, "failed", "", "opted_out", "the person opted out before it was sent")
	}
	if noChan {
		return w.finish(ctx, c, d, "failed", "", "channel_removed", "the conversation's channel was removed")
	}
	a, err := w.channelAccount(d.ch)
	if err != nil {
		if bus.IsPermanent(err) {
			log.ErrorContext(ctx, "channel unusable", "err", err)
			return w.finish(ctx, c, d, "failed", "", "channel_unusable", "channel credentials or settings unusable")
		}
		return err
	}
	recipient := d.user.ChatID
	if recipient == "" {
		recipient = d.user.ProviderUserID
	}
	parts := channels.SplitText(d.msg.Body, channels.MaxTextRunes)
	if len(parts) == 0 {
		return w.finish(ctx, c, d, "failed", "", "empty", "empty message")
	}
	if a.typ == events.ChannelWhatsApp && !windowOpen(d.user.LastInboundAt, w.Now()) {
		return w.outsideWindow(ctx, c, d, a, recipient, log)
	}
	if a.typ == events.ChannelTelegram {
		// No draft of this reply after (or during) its final message.
		w.drafts.finish(ctx, d.msg.ID)
	}
	first := ""
	for i, text := range parts {
		id, sent, err := w.sendPart(ctx, c, d, a, i, recipient, func(ctx context.Context) (string, error) {
			return a.sendText(ctx, recipient, text)
		})
		if err != nil {
			switch channels.ClassOf(err) {
			case channels.WindowClosed:
				return w.outsideWindow(ctx, c, d, a, recipient, log)
			case channels.Permanent, channels.RecipientGone:
				return w.failPermanently(ctx, c, d, err, log)
			}
			return err // retryable: JetStream redelivers; sent parts are not sent again
		}
		if i == 0 {
			first = id
		}
		_ = sent
	}
	if first == "" { // part 0 was sent by an earlier attempt
		first = w.firstProviderID(ctx, c, d.msg.ID)
	}
	log.InfoContext(ctx, "message dispatched", "parts", len(parts), "provider_id", first)
	return w.finish(ctx, c, d, "sent", first, "", "")
}

// Part statuses of the send log (delivery_parts.status) besides sent, delivered, read and
// failed: sending is a provider call started and not yet answered; refused is a call the
// provider answered with a refusal (rate limit, 5xx: nothing was sent); unknown is a call whose
// answer never came (timeout, connection lost, cancelled: it may have been sent).
const (
	partSending = "sending"
	partRefused = "refused"
	partUnknown = "unknown"
)

// errPartInFlight means another attempt's provider call of the part is still within its time.
var errPartInFlight = errors.New("dispatch: part in flight in another attempt")

// sendPart sends part i once, within the limits, retrying rate-limit and transient errors in
// place while the wait is short. sent is false when an earlier attempt already sent the part.
//
// The window in which a crash can send a part twice is the provider call alone: the limits
// are waited for first, then the call is recorded (status sending, attempts + 1) in its own
// committed transaction immediately before the HTTP request and its outcome (sent with the
// provider's id) immediately after, with nothing in between. A later attempt that finds the part
// sending from an attempt that died mid-call (or unknown) cannot tell whether the provider got
// it, sends it again, and says so: at-least-once for the interrupted call only.
func (w *Worker) sendPart(ctx context.Context, c uuid.UUID, d delivery, a *account, i int, recipient string, send func(context.Context) (string, error)) (string, bool, error) {
	done, err := w.partDone(ctx, c, d.msg.ID, i)
	if err != nil || done {
		return "", false, err
	}
	slots := w.slots(a, recipient)
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		if err := w.lim.wait(ctx, slots, w.limits.MaxWait); err != nil {
			if errors.Is(err, errThrottled) {
				err = bus.Later(err) // paused for longer than MaxWait: no use retrying at once
			}
			return "", false, err
		}
		prev, begun, err := w.beginPart(ctx, c, d.msg.ID, a.id, i)
		if errors.Is(err, errPartInFlight) {
			return "", false, bus.Later(err)
		}
		if err != nil {
			return "", false, err
		}
		if !begun {
			return "", false, nil // sent by another attempt meanwhile
		}
		if prev.Status == partSending || prev.Status == partUnknown {
			w.Log.WarnContext(ctx, "re-sending after an interrupted provider call", "creator_id", c, "message_id", d.msg.ID, "channel", a.typ,
				"channel_id", a.id, "part", i, "previous_status", prev.Status, "attempts", prev.Attempts+1)
		}
		cctx, cancel := context.WithTimeout(ctx, w.limits.CallTimeout)
		cctx, span := providerSpan(cctx, a, i, attempt) // trace.go
		t := time.Now()
		id, err := send(cctx)
		w.Metrics.ProviderCall(a.typ, time.Since(t), err)
		endProviderSpan(span, id, err)
		cancel()
		if err == nil {
			if ferr := w.finishPart(ctx, c, d.msg.ID, i, "sent", id, ""); ferr != nil {
				return "", false, ferr
			}
			return id, true, nil
		}
		lastErr = err
		class := channels.ClassOf(err)
		var pe *channels.Error
		answered := errors.As(err, &pe) && pe.Status != 0
		switch {
		case class != channels.RateLimited && class != channels.Retryable:
			_ = w.finishPart(ctx, c, d.msg.ID, i, "failed", "", err.Error())
			return "", false, err
		case answered:
			if ferr := w.finishPart(ctx, c, d.msg.ID, i, partRefused, "", err.Error()); ferr != nil {
				return "", false, ferr
			}
		default:
			// No answer: the provider may have the message. The next call of the part is a
			// re-send and is logged as one; it is not made in place (a provider that accepts
			// and never answers would get a copy per try) but after JetStream's backoff.
			if ferr := w.finishPart(ctx, c, d.msg.ID, i, partUnknown, "", err.Error()); ferr != nil {
				return "", false, ferr
			}
			return "", false, bus.Later(fmt.Errorf("dispatch: part %d of %s: no answer from the provider: %w", i, d.msg.ID, err))
		}
		wait := channels.RetryAfterOf(err)
		if wait <= 0 {
			wait = time.Duration(250<<attempt) * time.Millisecond
		}
		w.Metrics.RetryWait(a.typ, wait)
		if class == channels.RateLimited {
			w.Metrics.RateLimited(a.typ)
			// Honour retry_after for everyone the throttle covers: the pair, the number or bot,
			// or every number of the app (channels.Scope).
			key := w.lim.block(ctx, slots, channels.ScopeOf(err), time.Now().Add(wait))
			w.Log.WarnContext(ctx, "provider rate limit: sends paused", "creator_id", c, "message_id", d.msg.ID, "part", i,
				"scope", channels.ScopeOf(err).String(), "key", key, "wait", wait, "err", err)
			continue // wait() waits for the block (or gives the message back when it is long)
		}
		w.Log.WarnContext(ctx, "provider send failed, retrying", "creator_id", c, "message_id", d.msg.ID, "part", i, "attempt", attempt+1, "wait", wait, "err", err)
		if wait > w.limits.MaxWait {
			break
		}
		if err := sleep(ctx, wait); err != nil {
			return "", false, err
		}
	}
	return "", false, fmt.Errorf("dispatch: part %d of %s not sent yet: %w", i, d.msg.ID, lastErr)
}

// partDone reports whether part i was sent by an earlier attempt.
func (w *Worker) partDone(ctx context.Context, c, msgID uuid.UUID, i int) (bool, error) {
	var done bool
	err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		p, err := q.GetDeliveryPart(ctx, db.GetDeliveryPartParams{MessageID: msgID, Part: int32(i)})
		if db.IsNotFound(err) {
			return nil
		}
		done = err == nil && partSent(p.Status)
		return err
	})
	return done, err
}

func partSent(status string) bool {
	return status == "sent" || status == "delivered" || status == "read"
}

// beginPart records a provider call of part i (committed before it returns). begun is false
// when the part was sent meanwhile; errPartInFlight when another attempt's call of it is still
// running. prev is the part as it was (zero when new).
func (w *Worker) beginPart(ctx context.Context, c, msgID, channelID uuid.UUID, i int) (prev db.DeliveryPart, begun bool, err error) {
	live := (w.limits.CallTimeout + partLiveMargin).Seconds()
	err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		p, err := q.LockDeliveryPart(ctx, db.LockDeliveryPartParams{MessageID: msgID, Part: int32(i)})
		if err != nil && !db.IsNotFound(err) {
			return err
		}
		prev = p
		_, err = q.BeginDeliveryPart(ctx, db.BeginDeliveryPartParams{MessageID: msgID, Part: int32(i), CreatorID: c,
			ChannelID: uuid.NullUUID{UUID: channelID, Valid: channelID != uuid.Nil}, LiveSecs: live})
		if db.IsNotFound(err) {
			cur, gerr := q.GetDeliveryPart(ctx, db.GetDeliveryPartParams{MessageID: msgID, Part: int32(i)})
			if gerr != nil {
				return gerr
			}
			if partSent(cur.Status) {
				return nil
			}
			return fmt.Errorf("%w: part %d of %s (status %s since %s)", errPartInFlight, i, msgID, cur.Status, cur.UpdatedAt.Format(time.RFC3339))
		}
		begun = err == nil
		return err
	})
	return prev, begun, err
}

// partLiveMargin is added to CallTimeout before a part left sending counts as abandoned.
const partLiveMargin = 2 * time.Second

// finishPartFor is how long finishPart keeps trying to record a call's outcome.
const finishPartFor = 2 * time.Minute

// finishPart records the outcome of a provider call, even when the handler's context ended
// (the call's outcome is what keeps a redelivery from sending the part again): a few tries.
func (w *Worker) finishPart(ctx context.Context, c, msgID uuid.UUID, i int, status, providerID, errText string) error {
	ctx = context.WithoutCancel(ctx)
	var err error
	// Keep trying for as long as a PostgreSQL restart takes (the consumer's KeepAlive holds the
	// message meanwhile): a sent part left "sending" would be sent again by the next attempt.
	deadline := time.Now().Add(finishPartFor)
	for k := 0; k == 0 || time.Now().Before(deadline); k++ {
		if k > 0 {
			time.Sleep(min(time.Duration(k)*100*time.Millisecond, 2*time.Second))
		}
		if err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
			return q.FinishDeliveryPart(ctx, db.FinishDeliveryPartParams{MessageID: msgID, Part: int32(i), Status: status, ProviderID: providerID, Error: errText})
		}); err == nil {
			return nil
		}
	}
	return err
}

// outsideWindow handles a WhatsApp message to a user who has not written for 24 hours: the
// channel's approved template is sent instead, or the message is recorded as window_closed.
func (w *Worker) outsideWindow(ctx context.Context, c uuid.UUID, d delivery, a *account, recipient string, log interface {
	InfoContext(context.Context, string, ...any)
}) error {
	w.Metrics.WindowClosed(a.typ)
	// The message's own template (a campaign's or program step's, parameters rendered for the
	// person), else the channel's default one, sent without parameters.
	var (
		name, lang string
		comps      []map[string]any
	)
	var own events.MessageTemplate
	if len(d.msg.Template) > 0 && json.Unmarshal(d.msg.Template, &own) == nil && own.Name != "" {
		name, lang = own.Name, own.Language
		if len(own.Params) > 0 {
			params := make([]map[string]any, len(own.Params))
			for i, p := range own.Params {
				params[i] = map[string]any{"type": "text", "text": p}
			}
			comps = []map[string]any{{"type": "body", "parameters": params}}
		}
	} else if t := a.cfg.Template; t != nil && t.Name != "" {
		name, lang = t.Name, t.Language
	}
	if name == "" {
		log.InfoContext(ctx, "whatsapp window closed and no template configured: not sent")
		return w.finish(ctx, c, d, "window_closed", "", strconv.Itoa(whatsapp.CodeReengagement),
			"outside WhatsApp's 24-hour window and no template configured")
	}
	// The template is part 1000 in the send log, apart from text parts an earlier attempt sent.
	id, _, err := w.sendPart(ctx, c, d, a, 1000, recipient, func(ctx context.Context) (string, error) {
		return a.wa.SendTemplate(ctx, recipient, name, lang, comps)
	})
	if err != nil {
		if cl := channels.ClassOf(err); cl == channels.Permanent || cl == channels.RecipientGone || cl == channels.WindowClosed {
			return w.failPermanently(ctx, c, d, err, log)
		}
		return err
	}
	log.InfoContext(ctx, "whatsapp window closed: template sent instead", "template", name)
	return w.finish(ctx, c, d, "sent", id, "", "window closed: sent template "+name)
}

// failPermanently records a provider's refusal with its code; a recipient who is gone
// (Telegram: blocked the bot) is opted out of proactive messages.
func (w *Worker) failPermanently(ctx context.Context, c uuid.UUID, d delivery, err error, log interface {
	InfoContext(context.Context, string, ...any)
}) error {
	code := ""
	if n := codeOf(err); n != 0 {
		code = strconv.Itoa(n)
	}
	if channels.ClassOf(err) == channels.RecipientGone {
		if oerr := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
			_, err := q.SetEndUserOptOut(ctx, db.SetEndUserOptOutParams{ID: d.user.ID, OptedOut: true})
			return err
		}); oerr != nil {
			return oerr
		}
		log.InfoContext(ctx, "recipient gone: end user opted out", "end_user_id", d.user.ID, "code", code)
	}
	log.InfoContext(ctx, "message failed permanently", "code", code, "err", err)
	return w.finish(ctx, c, d, "failed", "", code, err.Error())
}

// finish records the outcome on the send log and the message and tells the creator's dashboard.
func (w *Worker) finish(ctx context.Context, c uuid.UUID, d delivery, status, providerID, code, errText string) error {
	var pid *string
	if providerID != "" {
		pid = &providerID
	}
	if err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		if err := q.FinishDelivery(ctx, db.FinishDeliveryParams{MessageID: d.msg.ID, Status: status, ProviderID: providerID, Error: errText}); err != nil {
			return err
		}
		return q.SetMessageDelivery(ctx, db.SetMessageDeliveryParams{ID: d.msg.ID, Status: status, Error: errText, ErrorCode: code, ProviderMessageID: pid})
	}); err != nil {
		return err
	}
	w.Metrics.Sent(d.conv.Channel, status)
	w.activity(c, events.Activity{Kind: "message_status", ConversationID: d.conv.ID, Channel: d.conv.Channel,
		MessageID: d.msg.ID, Seq: d.msg.Seq, Role: d.msg.Role, Status: status, ErrorCode: code})
	return nil
}

func (w *Worker) firstProviderID(ctx context.Context, c, msgID uuid.UUID) string {
	var id string
	_ = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		m, err := q.GetMessage(ctx, msgID)
		if err == nil && m.ProviderMessageID != nil {
			id = *m.ProviderMessageID
		}
		return nil
	})
	return id
}

func (a *account) sendText(ctx context.Context, recipient, text string) (string, error) {
	if a.typ == events.ChannelWhatsApp {
		return a.wa.SendText(ctx, recipient, text)
	}
	chat, err := strconv.ParseInt(recipient, 10, 64)
	if err != nil {
		return "", &channels.Error{Provider: "telegram", Class: channels.Permanent, Message: "chat id " + strconv.Quote(recipient) + " is not a number"}
	}
	id, err := a.tg.SendMessage(ctx, chat, text)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(chat, 10) + ":" + strconv.FormatInt(id, 10), nil
}

func windowOpen(lastInbound *time.Time, now time.Time) bool {
	return lastInbound != nil && now.Sub(*lastInbound) < whatsappWindow
}

func codeOf(err error) int {
	var e *channels.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// handleTyping shows a typing indicator while a reply is generated. Best effort: it takes a
// send slot only when one is free right now, so it never delays or displaces a message.
func (w *Worker) handleTyping(m *nats.Msg) {
	c, err := events.CreatorFromSubject(m.Subject)
	if err != nil {
		return
	}
	var t events.Typing
	if err := json.Unmarshal(m.Data, &t); err != nil || t.ChannelID == uuid.Nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var (
		ch db.Channel
		eu db.EndUser
	)
	if err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		var err error
		if ch, err = q.GetChannel(ctx, t.ChannelID); err != nil {
			return err
		}
		eu, err = q.GetEndUser(ctx, t.EndUserID)
		return err
	}); err != nil {
		w.drafts.drop(t.ConversationID)
		return
	}
	a, err := w.channelAccount(ch)
	if err != nil {
		w.drafts.drop(t.ConversationID)
		return
	}
	recipient := eu.ChatID
	if a.typ == events.ChannelTelegram {
		// Drafts are for private chats: the chat is the user (a group's id is negative).
		chat, perr := strconv.ParseInt(recipient, 10, 64)
		if perr != nil || recipient != eu.ProviderUserID {
			chat = 0
		}
		w.drafts.resolve(t.ConversationID, a, chat)
	}
	if !w.lim.allow(ctx, w.slots(a, recipient)[1:]) {
		return
	}
	switch a.typ {
	case events.ChannelWhatsApp:
		if t.ProviderMessageID != "" {
			err = a.wa.Typing(ctx, t.ProviderMessageID)
		}
	case events.ChannelTelegram:
		if chat, perr := strconv.ParseInt(recipient, 10, 64); perr == nil {
			err = a.tg.SendChatAction(ctx, chat, "typing")
		}
	}
	if err != nil {
		w.Log.DebugContext(ctx, "typing indicator failed", "creator_id", c, "channel_id", ch.ID, "err", err)
	}
}

func (w *Worker) activity(c uuid.UUID, a events.Activity) {
	if err := w.Bus.NotifyJSON(events.ActivitySubject(c), a); err != nil {
		w.Log.Debug("activity publish failed", "err", err)
	}
}

// proactive reports whether m is a message the coach sends on its own (a campaign or program
// nudge): no reply to anything, not written by the creator.
func proactive(m db.Message) bool { return m.Role == "assistant" && !m.ReplyTo.Valid }
