package app_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// End-to-end tests of proactive messages on WhatsApp and Telegram: campaigns created through
// the API, decided by the nudge target, sent by dispatch to the loopback providers. They
// observe only the API, the tables nudge_deliveries / messages / end_users and what the
// provider doubles received.

// nudgeRig is a channelRig (every target, loopback WhatsApp and Telegram) with a fast nudge
// scheduler, whose clock starts at 10:00 UTC of day(0), a day after today: outside the
// creators' default quiet hours (22:00-08:00 UTC, left as they are) and ahead of the
// database's clock, so a messages.created_at (database time) never lies in the process's
// future. The clock runs at real speed; setClock jumps it.
type nudgeRig struct {
	*channelRig
	conn *pgx.Conn
	day0 time.Time
}

func newNudgeRig(t *testing.T) *nudgeRig {
	t.Helper()
	h := newHarness(t, ollamatest.Options{DeltaDelay: time.Millisecond})
	r := &nudgeRig{channelRig: &channelRig{wa: whatsapptest.New(t), tg: telegramtest.New(t), ollama: h.ollama},
		day0: time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)}
	cfg := h.config()
	cfg.WhatsAppAPIURL, cfg.TelegramAPIURL = r.wa.URL, r.tg.URL
	cfg.SecretKeys = testSecretKeys
	cfg.Nudge.Tick, cfg.Nudge.Page, cfg.Nudge.Lease = 100*time.Millisecond, 50, 5*time.Second
	r.offset.Store(int64(time.Until(r.at(0, 10*time.Hour))))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Logger(t), Now: r.now})
	require.NoError(t, err)
	t.Cleanup(a.Stop)
	r.a, r.c = a, testenv.NewClient(a.URL)
	r.cr = r.c.Register(t)
	r.conn = ownerConn(t, h)
	return r
}

// at is the instant d days and clock after midnight UTC of day(0).
func (r *nudgeRig) at(d int, clock time.Duration) time.Time {
	return r.day0.AddDate(0, 0, d).Add(clock)
}

// now is the processes' clock.
func (r *nudgeRig) now() time.Time { return time.Now().Add(time.Duration(r.offset.Load())) }

// setClock moves the processes' clock to at (and logs in again: tokens follow that clock).
func (r *nudgeRig) setClock(t *testing.T, at time.Time) { t.Helper(); r.shift(t, time.Until(at)) }

// nudgeDecision is one row of nudge_deliveries with the recipient's provider id, the
// occurrence's scheduled time and the state of the stored message.
type nudgeDecision struct {
	Who                         string
	Occurrence                  time.Time
	Status, Reason, Mode        string
	MsgStatus, MsgCode, MsgBody string
}

func (d nudgeDecision) String() string {
	return fmt.Sprintf("%s@%s: %s/%s/%s msg=%s/%s", d.Who, d.Occurrence.UTC().Format("01-02T15:04"), d.Status, d.Reason, d.Mode, d.MsgStatus, d.MsgCode)
}

func (r *nudgeRig) decisions(t *testing.T, campaign uuid.UUID) []nudgeDecision {
	t.Helper()
	var out []nudgeDecision
	tenantDo(t, r.conn, r.cr.ID, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `
			SELECT e.provider_user_id, o.scheduled_at, d.status, d.reason, d.mode,
			       COALESCE(m.status, ''), COALESCE(m.error_code, ''), COALESCE(m.body, '')
			FROM nudge_deliveries d
			JOIN end_users e ON e.id = d.end_user_id
			JOIN campaign_occurrences o ON o.id = d.occurrence_id
			LEFT JOIN messages m ON m.id = d.message_id
			WHERE d.campaign_id = $1 ORDER BY o.scheduled_at, e.provider_user_id`, campaign)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (nudgeDecision, error) {
			var d nudgeDecision
			err := row.Scan(&d.Who, &d.Occurrence, &d.Status, &d.Reason, &d.Mode, &d.MsgStatus, &d.MsgCode, &d.MsgBody)
			return d, err
		})
		return err
	})
	return out
}

// occurrenceDecisions waits until every one of want's recipients is decided for the
// occurrence at occ and each message sent for it has left dispatch (sent or failed), then
// returns "status/reason/mode" by recipient.
func (r *nudgeRig) occurrenceDecisions(t *testing.T, campaign uuid.UUID, occ time.Time, want int) map[string]string {
	t.Helper()
	var got []nudgeDecision
	testenv.Eventually(t, 30*time.Second, func() bool {
		got = got[:0]
		for _, d := range r.decisions(t, campaign) {
			if d.Occurrence.Equal(occ) {
				got = append(got, d)
			}
		}
		if len(got) != want {
			return false
		}
		for _, d := range got {
			if d.Status == "held" || d.Status == "sent" && d.MsgStatus != "sent" && d.MsgStatus != "failed" {
				return false
			}
		}
		return true
	}, "%d recipients of the occurrence at %s decided and dispatched (have %v)", want, occ, &got)
	out := map[string]string{}
	for _, d := range got {
		out[d.Who] = d.Status + "/" + d.Reason + "/" + d.Mode
	}
	return out
}

type campaignStats struct {
	Targeted        int            `json:"targeted"`
	Sent            int            `json:"sent"`
	Held            int            `json:"held"`
	Skipped         int            `json:"skipped"`
	SkippedByReason map[string]int `json:"skipped_by_reason"`
	Delivered       int            `json:"delivered"`
	Read            int            `json:"read"`
	Replied         int            `json:"replied"`
	Failed          int            `json:"failed"`
}

func (r *nudgeRig) stats(t *testing.T, campaign uuid.UUID) campaignStats {
	t.Helper()
	var s campaignStats
	st, raw, err := r.c.Do(context.Background(), "GET", fmt.Sprintf("/api/v1/campaigns/%s/stats", campaign), r.cr.AccessToken, nil, &s)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	t.Logf("campaign stats: %s", raw)
	return s
}

// tgCampaignSends counts what the Telegram double accepted for chat whose text contains marker.
func (r *nudgeRig) tgCampaignSends(chat int64, marker string) int {
	n := 0
	for _, s := range r.tg.SentTo(chat) {
		if strings.Contains(s.Text, marker) {
			n++
		}
	}
	return n
}

// nudgeMessages counts the stored assistant messages to the end user with provider id who
// whose body contains marker.
func (r *nudgeRig) nudgeMessages(t *testing.T, who, marker string) int {
	t.Helper()
	return countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		JOIN end_users e ON e.id = c.end_user_id WHERE e.provider_user_id = $1 AND m.role = 'assistant' AND strpos(m.body, $2) > 0`, who, marker)
}

func (r *nudgeRig) optedOut(t *testing.T, who string) bool {
	t.Helper()
	return countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM end_users WHERE provider_user_id = $1 AND opted_out_at IS NOT NULL`, who) == 1
}

// TestNudgeWhatsAppWindow: one campaign to three WhatsApp users. Ada wrote 30 minutes ago
// (inside the 24-hour window, outside the live-conversation window): the nudge goes out as
// free-form text. Bea last wrote 25.5 hours ago on a channel with an approved template: the
// template is sent. Cem last wrote as long ago on a channel without a template: nothing is
// sent and the decision is skipped / no_template. The stats say so.
func TestNudgeWhatsAppWindow(t *testing.T) {
	t.Parallel()
	r := newNudgeRig(t)
	const plainPhone = "100000000000077"
	const ada, bea, cem = "491700007701", "491700007702", "491700007703"
	tpl := r.whatsapp(t, true) // template coach_reengage / en_US
	plain := r.addChannel(t, map[string]any{"type": "whatsapp", "phone_number_id": plainPhone,
		"access_token": whatsapptest.DefaultAccessToken, "app_secret": waAppSecret, "verify_token": "verify-plain-77"})
	write := func(ch channelResp, phone, from, name string) {
		t.Helper()
		st, body := r.postWA(t, ch, whatsapptest.TextMessagePayload(phone, whatsapptest.Msg{From: from, Name: name, Text: "How do I sleep better?"}))
		require.Equal(t, http.StatusOK, st, body)
	}

	// Day 0, 10:00: Bea and Cem write; the coach answers both inside the window.
	write(tpl, whatsapptest.DefaultPhoneNumberID, bea, "Bea Old")
	write(plain, plainPhone, cem, "Cem Old")
	r.wa.WaitSent(t, 2, 60*time.Second)
	// Day 1, 11:00: Ada writes and is answered.
	r.setClock(t, r.at(1, 11*time.Hour))
	write(tpl, whatsapptest.DefaultPhoneNumberID, ada, "Ada Recent")
	r.wa.WaitSent(t, 3, 60*time.Second)
	for _, who := range []string{ada, bea, cem} {
		require.Len(t, r.wa.SentTo(who), 1, "the coach's reply to %s", who)
		require.Equal(t, "text", r.wa.SentTo(who)[0].Type)
	}

	// Day 1, 11:30: the campaign fires.
	r.setClock(t, r.at(1, 11*time.Hour+30*time.Minute))
	occ := r.now().Add(time.Second).UTC().Truncate(time.Microsecond)
	camp := createCampaign(t, r.c, r.cr, map[string]any{
		"name":     "window",
		"audience": map[string]any{"channel": "whatsapp"},
		"content":  map[string]any{"kind": "text", "text": "Hi {{first_name}}, how did you sleep this week?"},
		"schedule": map[string]any{"kind": "once", "at": occ.Format(time.RFC3339Nano)},
	})
	got := r.occurrenceDecisions(t, camp, occ, 3)
	require.Equal(t, map[string]string{ada: "sent//text", bea: "sent//template", cem: "skipped/no_template/"}, got)

	// What WhatsApp received: Ada the text on the template channel's number, Bea the template,
	// Cem nothing more than the coach's earlier reply (no message was even stored for him).
	r.wa.WaitSent(t, 5, 30*time.Second)
	toAda := r.wa.SentTo(ada)
	require.Len(t, toAda, 2)
	require.Equal(t, "text", toAda[1].Type)
	require.Equal(t, "Hi Ada, how did you sleep this week?", toAda[1].Text)
	require.Equal(t, whatsapptest.DefaultPhoneNumberID, toAda[1].PhoneNumberID)
	toBea := r.wa.SentTo(bea)
	require.Len(t, toBea, 2)
	require.Equal(t, "template", toBea[1].Type)
	require.Equal(t, "coach_reengage", toBea[1].Template)
	require.Equal(t, "en_US", toBea[1].TemplateLang)
	require.Equal(t, whatsapptest.DefaultPhoneNumberID, toBea[1].PhoneNumberID)
	require.Len(t, r.wa.SentTo(cem), 1, "nothing proactive to Cem")
	require.Equal(t, 0, r.nudgeMessages(t, cem, "how did you sleep"), "no message stored for Cem")
	for _, d := range r.decisions(t, camp) {
		if d.Status == "sent" {
			require.Equal(t, "sent", d.MsgStatus, "%s", d)
		}
	}

	s := r.stats(t, camp)
	require.Equal(t, 3, s.Targeted)
	require.Equal(t, 2, s.Sent)
	require.Equal(t, 1, s.Skipped)
	require.Equal(t, map[string]int{"no_template": 1}, s.SkippedByReason)
	require.Equal(t, 0, s.Failed)
	require.Equal(t, 0, s.Held)
}

// TestNudgeOptOutMidRecurringCampaign: a daily campaign (RRULE, three occurrences) to three
// Telegram users. After the first occurrence one of them sends STOP; the next two occurrences
// skip that person as opted out and reach the others once each. Nobody gets anything twice:
// counted at the provider and in the messages table.
func TestNudgeOptOutMidRecurringCampaign(t *testing.T) {
	t.Parallel()
	r := newNudgeRig(t)
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	chats := []int64{7101, 7102, 7103}
	const stopper = int64(7102)
	for i, c := range chats {
		st, body := r.postTG(t, ch, telegramtest.UpdatePayload(int64(100+i), c, c, "Hi coach, I want to sleep better"))
		require.Equal(t, http.StatusOK, st, body)
	}
	r.tg.WaitSent(t, len(chats), 60*time.Second) // the coach's replies

	marker := "[daily-" + uuid.NewString()[:8] + "]"
	camp := createCampaign(t, r.c, r.cr, map[string]any{
		"name":     "daily check-in",
		"audience": map[string]any{"channel": "telegram"},
		"content":  map[string]any{"kind": "text", "text": "One small step for your sleep today, {{first_name}}? " + marker},
		"schedule": map[string]any{"kind": "rrule", "timezone": "UTC", "start": r.at(0, 12*time.Hour).Format("2006-01-02T15:04"),
			"rrule": "FREQ=DAILY;COUNT=3"},
	})
	who := func(c int64) string { return fmt.Sprint(c) }
	sends := func() map[string]int {
		out := map[string]int{}
		for _, c := range chats {
			out[who(c)] = r.tgCampaignSends(c, marker)
		}
		return out
	}
	expect := func(want map[string]int) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() bool { return fmt.Sprint(sends()) == fmt.Sprint(want) }, "campaign sends %v (have %v)", want, sends())
		for w, n := range want {
			require.Equal(t, n, r.nudgeMessages(t, w, marker), "stored campaign messages to %s", w)
		}
	}

	// Occurrence 1 (day 0, 12:00): everyone.
	occ1 := r.at(0, 12*time.Hour)
	r.setClock(t, occ1.Add(time.Second))
	require.Equal(t, map[string]string{"7101": "sent//text", "7102": "sent//text", "7103": "sent//text"},
		r.occurrenceDecisions(t, camp, occ1, 3))
	expect(map[string]int{"7101": 1, "7102": 1, "7103": 1})

	// STOP through the webhook: confirmed, and the person is opted out.
	st, body := r.postTG(t, ch, telegramtest.UpdatePayload(200, stopper, stopper, "STOP"))
	require.Equal(t, http.StatusOK, st, body)
	testenv.Eventually(t, 30*time.Second, func() bool {
		for _, s := range r.tg.SentTo(stopper) {
			if strings.Contains(s.Text, "unsubscribed") {
				return true
			}
		}
		return false
	}, "the STOP confirmation")
	testenv.Eventually(t, 10*time.Second, func() bool { return r.optedOut(t, who(stopper)) }, "opted out")

	// Occurrences 2 and 3: the others once each, the stopper skipped as opted out.
	for k := 1; k <= 2; k++ {
		occ := r.at(k, 12*time.Hour)
		r.setClock(t, occ.Add(time.Second))
		require.Equal(t, map[string]string{"7101": "sent//text", "7102": "skipped/opted_out/", "7103": "sent//text"},
			r.occurrenceDecisions(t, camp, occ, 3), "occurrence %d", k+1)
		expect(map[string]int{"7101": k + 1, "7102": 1, "7103": k + 1})
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		return countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM campaigns WHERE id = $1 AND status = 'completed'`, camp) == 1
	}, "the campaign completed after COUNT=3")

	// Exactly once per recipient and occurrence, at the provider and in the table.
	quiet(t, time.Second, 7, func() int {
		n := 0
		for _, v := range sends() {
			n += v
		}
		return n
	}, "no late duplicate at the provider")
	require.Equal(t, map[string]int{"7101": 3, "7102": 1, "7103": 3}, sends())
	decs := r.decisions(t, camp)
	require.Len(t, decs, 9)
	perOcc := map[string]int{}
	for _, d := range decs {
		perOcc[d.Who+"@"+d.Occurrence.String()]++
		if d.Status == "sent" {
			require.Equal(t, "sent", d.MsgStatus, "%s", d)
			require.Contains(t, d.MsgBody, marker)
		}
	}
	require.Len(t, perOcc, 9, "one decision per (occurrence, recipient)")
	var stopperDecs []string
	for _, d := range decs {
		if d.Who == who(stopper) {
			stopperDecs = append(stopperDecs, d.Status+"/"+d.Reason)
		}
	}
	sort.Strings(stopperDecs)
	require.Equal(t, []string{"sent/", "skipped/opted_out", "skipped/opted_out"}, stopperDecs)

	s := r.stats(t, camp)
	require.Equal(t, 9, s.Targeted)
	require.Equal(t, 7, s.Sent)
	require.Equal(t, 2, s.Skipped)
	require.Equal(t, map[string]int{"opted_out": 2}, s.SkippedByReason)
	require.Equal(t, 0, s.Failed)
}

// TestNudgeBlockedBotOptsOut: a Telegram user blocks the bot without the bot being told (no
// my_chat_member update). The next campaign occurrence's send is refused with 403 "Forbidden:
// bot was blocked by the user": the message is recorded failed with code 403 and the person
// opted out, so the occurrence after that skips them as opted out; the other user gets both.
func TestNudgeBlockedBotOptsOut(t *testing.T) {
	t.Parallel()
	r := newNudgeRig(t)
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	const stays, blocks = int64(7201), int64(7202)
	for i, c := range []int64{stays, blocks} {
		st, body := r.postTG(t, ch, telegramtest.UpdatePayload(int64(300+i), c, c, "Hello, I want to sleep better"))
		require.Equal(t, http.StatusOK, st, body)
	}
	r.tg.WaitSent(t, 2, 60*time.Second)
	r.tg.Block(blocks)
	var toBlocked atomic.Int32 // sendMessage calls to the blocked chat
	r.tg.SetRule(func(rq telegramtest.Request) *telegramtest.Failure {
		if rq.Method == "sendMessage" && rq.ChatID == blocks {
			toBlocked.Add(1)
		}
		return nil
	})

	marker := "[cron-" + uuid.NewString()[:8] + "]"
	camp := createCampaign(t, r.c, r.cr, map[string]any{
		"name":     "noon check-in",
		"audience": map[string]any{"channel": "telegram"},
		"content":  map[string]any{"kind": "text", "text": "Quick check-in at noon " + marker},
		"schedule": map[string]any{"kind": "cron", "timezone": "UTC", "cron": "0 12 * * *"},
	})

	// Occurrence 1: both decided to send; the provider refuses the blocked one.
	occ1 := r.at(0, 12*time.Hour)
	r.setClock(t, occ1.Add(time.Second))
	require.Equal(t, map[string]string{"7201": "sent//text", "7202": "sent//text"}, r.occurrenceDecisions(t, camp, occ1, 2))
	var blocked nudgeDecision
	for _, d := range r.decisions(t, camp) {
		if d.Who == "7202" {
			blocked = d
		}
	}
	require.Equal(t, "failed", blocked.MsgStatus, "%s", blocked)
	require.Equal(t, "403", blocked.MsgCode, "%s", blocked)
	require.True(t, r.optedOut(t, "7202"), "a recipient who blocked the bot is opted out")
	require.False(t, r.optedOut(t, "7201"))

	// Occurrence 2: the blocked one is skipped as opted out.
	occ2 := r.at(1, 12*time.Hour)
	r.setClock(t, occ2.Add(time.Second))
	require.Equal(t, map[string]string{"7201": "sent//text", "7202": "skipped/opted_out/"}, r.occurrenceDecisions(t, camp, occ2, 2))
	testenv.Eventually(t, 30*time.Second, func() bool { return r.tgCampaignSends(stays, marker) == 2 }, "two campaign messages to %d", stays)
	require.Equal(t, 0, r.tgCampaignSends(blocks, marker))
	require.Equal(t, int32(1), toBlocked.Load(), "one send to the blocked chat, refused and never retried")

	s := r.stats(t, camp)
	require.Equal(t, 3, s.Sent)
	require.Equal(t, 1, s.Skipped)
	require.Equal(t, map[string]int{"opted_out": 1}, s.SkippedByReason)
	require.Equal(t, 1, s.Failed)
}

// TestNudgeKeywordEnrollmentWelcome: a Telegram user types a program's keyword; they are
// enrolled, told so, and the program's day-0 welcome arrives right away even though they are
// in a live conversation (they asked for it), once, however often the keyword is repeated.
// The day-1 step follows at 09:00 their time the next day.
func TestNudgeKeywordEnrollmentWelcome(t *testing.T) {
	t.Parallel()
	r := newNudgeRig(t)
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	marker := "[prog-" + uuid.NewString()[:8] + "]"
	var prog struct {
		ID uuid.UUID `json:"id"`
	}
	st, raw, err := r.c.Do(context.Background(), "POST", "/api/v1/programs", r.cr.AccessToken, map[string]any{
		"name": "Sleep reset", "keyword": "SLEEP7",
		"steps": []map[string]any{
			{"day": 0, "content": map[string]any{"kind": "text", "text": "Welcome {{first_name}}! " + marker}},
			{"day": 1, "at": "09:00", "content": map[string]any{"kind": "text", "text": "Day one check-in " + marker}},
		},
	}, &prog)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))

	const chat = int64(7301)
	for i := range 2 { // the keyword, twice
		st, body := r.postTG(t, ch, telegramtest.UpdatePayload(int64(300+i), chat, chat, "sleep7"))
		require.Equal(t, http.StatusOK, st, body)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return r.tgCampaignSends(chat, "Welcome") == 1 }, "the day-0 welcome")
	enrolled := 0
	for _, s := range r.tg.SentTo(chat) {
		if strings.Contains(s.Text, "enrolled in Sleep reset") {
			enrolled++
		}
	}
	require.GreaterOrEqual(t, enrolled, 1, "the enrollment is confirmed")

	r.setClock(t, r.at(1, 9*time.Hour).Add(time.Second))
	testenv.Eventually(t, 30*time.Second, func() bool { return r.tgCampaignSends(chat, "Day one") == 1 }, "the day-1 step")
	quiet(t, time.Second, 2, func() int { return r.tgCampaignSends(chat, marker) }, "each step once")
}

// TestNudgeCampaignTemplateParams: a campaign with its own approved template reaches people
// outside WhatsApp's window with that template and their own parameters, also on a channel
// that has no default template; inside the window the text goes out. The dry run shows who
// gets the template with which parameters.
func TestNudgeCampaignTemplateParams(t *testing.T) {
	t.Parallel()
	r := newNudgeRig(t)
	const plainPhone = "100000000000078"
	const ada, cem = "491700007801", "491700007803"
	tpl := r.whatsapp(t, true)
	plain := r.addChannel(t, map[string]any{"type": "whatsapp", "phone_number_id": plainPhone,
		"access_token": whatsapptest.DefaultAccessToken, "app_secret": waAppSecret, "verify_token": "verify-plain-78"})
	st, body := r.postWA(t, plain, whatsapptest.TextMessagePayload(plainPhone, whatsapptest.Msg{From: cem, Name: "Cem Old", Text: "Hello"}))
	require.Equal(t, http.StatusOK, st, body)
	r.wa.WaitSent(t, 1, 60*time.Second)
	r.setClock(t, r.at(1, 11*time.Hour)) // Cem's window closes
	st, body = r.postWA(t, tpl, whatsapptest.TextMessagePayload(whatsapptest.DefaultPhoneNumberID, whatsapptest.Msg{From: ada, Name: "Ada Recent", Text: "Hi"}))
	require.Equal(t, http.StatusOK, st, body)
	r.wa.WaitSent(t, 2, 60*time.Second)

	r.setClock(t, r.at(1, 11*time.Hour+30*time.Minute))
	occ := r.now().Add(2 * time.Second).UTC().Truncate(time.Microsecond)
	camp := createCampaign(t, r.c, r.cr, map[string]any{
		"name":     "template params",
		"audience": map[string]any{"channel": "whatsapp"},
		"content": map[string]any{"kind": "text", "text": "Hi {{first_name}}, time for your weekly check-in.",
			"template": map[string]any{"name": "weekly_checkin", "language": "en", "params": []string{"{{first_name}}", "{{coach_name}}"}}},
		"schedule": map[string]any{"kind": "once", "at": occ.Format(time.RFC3339Nano)},
	})

	var prev struct {
		Recipients []struct {
			Channel, Outcome, Mode, Text string
			Name                         string `json:"name"`
			Template                     *struct {
				Name, Language string
				Params         []string
			} `json:"template"`
		} `json:"recipients"`
	}
	st, raw, err := r.c.Do(context.Background(), "POST", fmt.Sprintf("/api/v1/campaigns/%s/preview", camp), r.cr.AccessToken, nil, &prev)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Len(t, prev.Recipients, 2, string(raw))
	for _, p := range prev.Recipients {
		switch p.Name {
		case "Cem Old":
			require.Equal(t, "template", p.Mode, string(raw))
			require.NotNil(t, p.Template)
			require.Equal(t, "weekly_checkin", p.Template.Name)
			require.Equal(t, []string{"Cem", "Coach"}, p.Template.Params)
		default:
			require.Equal(t, "text", p.Mode, string(raw))
			require.Equal(t, "Hi Ada, time for your weekly check-in.", p.Text)
		}
	}

	got := r.occurrenceDecisions(t, camp, occ, 2)
	require.Equal(t, map[string]string{ada: "sent//text", cem: "sent//template"}, got)
	r.wa.WaitSent(t, 4, 30*time.Second)
	toCem := r.wa.SentTo(cem)
	require.Len(t, toCem, 2)
	require.Equal(t, "template", toCem[1].Type)
	require.Equal(t, "weekly_checkin", toCem[1].Template)
	require.Equal(t, "en", toCem[1].TemplateLang)
	require.Equal(t, plainPhone, toCem[1].PhoneNumberID, "on the person's own channel, which has no default template")
	require.JSONEq(t, fmt.Sprintf(`[{"type":"body","parameters":[{"type":"text","text":"Cem"},{"type":"text","text":%q}]}]`, "Coach"),
		string(toCem[1].Components))
	toAda := r.wa.SentTo(ada)
	require.Equal(t, "Hi Ada, time for your weekly check-in.", toAda[len(toAda)-1].Text)

	// What happened next, as WhatsApp reports it: Ada's message delivered and read, Cem's
	// template delivered; Ada answers. The stats count it.
	st, body = r.postWA(t, tpl, whatsapptest.StatusPayload(whatsapptest.DefaultPhoneNumberID,
		whatsapptest.St{WAMID: toAda[len(toAda)-1].WAMID, Status: "delivered", RecipientID: ada},
		whatsapptest.St{WAMID: toAda[len(toAda)-1].WAMID, Status: "read", RecipientID: ada}))
	require.Equal(t, http.StatusOK, st, body)
	st, body = r.postWA(t, plain, whatsapptest.StatusPayload(plainPhone,
		whatsapptest.St{WAMID: toCem[1].WAMID, Status: "delivered", RecipientID: cem}))
	require.Equal(t, http.StatusOK, st, body)
	st, body = r.postWA(t, tpl, whatsapptest.TextMessagePayload(whatsapptest.DefaultPhoneNumberID, whatsapptest.Msg{From: ada, Name: "Ada Recent", Text: "Done, thanks!"}))
	require.Equal(t, http.StatusOK, st, body)
	testenv.Eventually(t, 30*time.Second, func() bool {
		s := r.stats(t, camp)
		return s.Delivered == 2 && s.Read == 1 && s.Replied == 1
	}, "delivered 2, read 1, replied 1")
	s := r.stats(t, camp)
	require.Equal(t, 2, s.Targeted)
	require.Equal(t, 2, s.Sent)
	require.Equal(t, 0, s.Failed)
}

// TestNudgeOptOutBeforeDispatch: a campaign message decided for a Telegram user waits at
// dispatch (the provider answered 429 with a long retry_after); the person sends STOP
// meanwhile. The message is never sent: dispatch sees the opt-out and records it failed with
// code opted_out, and the stats count it; the STOP confirmation still arrives.
func TestNudgeOptOutBeforeDispatch(t *testing.T) {
	t.Parallel()
	r := newNudgeRig(t)
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	const chat = int64(7401)
	st, body := r.postTG(t, ch, telegramtest.UpdatePayload(400, chat, chat, "Hello coach"))
	require.Equal(t, http.StatusOK, st, body)
	r.tg.WaitSent(t, 1, 60*time.Second)

	marker := "[wait-" + uuid.NewString()[:8] + "]"
	r.tg.FailNext(1, 429, "Too Many Requests: retry after 15", 15) // longer than dispatch waits in place
	r.setClock(t, r.at(0, 12*time.Hour))
	occ := r.now().Add(time.Second).UTC().Truncate(time.Microsecond)
	camp := createCampaign(t, r.c, r.cr, map[string]any{
		"name":     "waits at dispatch",
		"audience": map[string]any{"channel": "telegram"},
		"content":  map[string]any{"kind": "text", "text": "Noon check-in " + marker},
		"schedule": map[string]any{"kind": "once", "at": occ.Format(time.RFC3339Nano)},
	})
	testenv.Eventually(t, 30*time.Second, func() bool {
		ds := r.decisions(t, camp)
		_, rejected := r.tg.Requests()
		return len(ds) == 1 && ds[0].Status == "sent" && rejected >= 1
	}, "the nudge decided and refused once by the provider")

	st, body = r.postTG(t, ch, telegramtest.UpdatePayload(401, chat, chat, "STOP"))
	require.Equal(t, http.StatusOK, st, body)
	testenv.Eventually(t, 60*time.Second, func() bool {
		ds := r.decisions(t, camp)
		return len(ds) == 1 && ds[0].MsgStatus == "failed"
	}, "the waiting nudge given up")
	d := r.decisions(t, camp)[0]
	require.Equal(t, "opted_out", d.MsgCode, "%s", d)
	testenv.Eventually(t, 60*time.Second, func() bool {
		for _, s := range r.tg.SentTo(chat) {
			if strings.Contains(s.Text, "unsubscribed") {
				return true
			}
		}
		return false
	}, "the STOP confirmation")
	require.Equal(t, 0, r.tgCampaignSends(chat, marker), "the nudge never reached the person")
	require.Equal(t, 1, r.stats(t, camp).Failed)
}
