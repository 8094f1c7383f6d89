package chaos_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coachwire/coachwire/internal/bus"
)

// inFlight reports whether any durable consumer still has work: pending messages or messages
// delivered and not yet acked (including those parked for a delayed redelivery).
func inFlight(c *cluster) (bool, string) {
	nc, err := nats.Connect(c.natsURL, nats.Timeout(2*time.Second))
	if err != nil {
		return true, "nats: " + err.Error()
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var busy []string
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		// CW_DLQ is the outcome, not work; a document's ingest can outlast the settling (a killed
		// ingest's document comes back after CW_INGEST's AckWait): documents are reported on
		// their own (settleBounds).
		if name == "CW_DLQ" || name == "CW_INGEST" {
			continue
		}
		s, err := js.Stream(ctx, name)
		if err != nil {
			return true, err.Error()
		}
		infos := s.ListConsumers(ctx)
		for ci := range infos.Info() {
			if ci.NumPending > 0 || ci.NumAckPending > 0 {
				busy = append(busy, fmt.Sprintf("%s/%s pending=%d ack_pending=%d", name, ci.Name, ci.NumPending, ci.NumAckPending))
			}
		}
		if err := infos.Err(); err != nil {
			return true, err.Error()
		}
	}
	if err := names.Err(); err != nil {
		return true, err.Error()
	}
	return len(busy) > 0, strings.Join(busy, ", ")
}

// progress is a fingerprint of everything end users can observe.
func progress(c *cluster, ld *load) string {
	answered := 0
	for _, it := range ld.l.snapshot() {
		if it.kind == "widget" && ld.l.widgetAnswered(it) {
			answered++
		}
	}
	waTotal, _ := c.wa.Requests()
	tgTotal, _ := c.tg.Requests()
	return fmt.Sprintf("%d/%d/%d/%d/%d", answered, len(c.wa.Sent()), len(c.tg.Sent()), waTotal, tgTotal)
}

func allAnswered(ld *load) bool {
	for _, it := range ld.l.snapshot() {
		if !ld.l.isAccepted(it) {
			continue
		}
		if it.kind == "widget" && !ld.l.widgetAnswered(it) || it.kind != "widget" && !ld.answeredOnProvider(it) {
			return false
		}
	}
	return true
}

// settleBounds reads the consumers' ack deadlines from NATS. settle is how long the suite
// waits, after the last phase, for what the faults left in flight: a message delivered to a
// process that was killed, or whose ack a killed NATS never stored, comes back only when its
// consumer's AckWait has passed (from the last delivery or InProgress), and a handler that then
// fails waits up to bus.NakDelayMax before the next try; settleSlack covers the in-process
// retries and the rest of the pipeline after that. The longest AckWait is the channel dispatch
// consumers' (2 × the provider call timeout + 5 s = 65 s by default: a part left "sending" must
// be past the call timeout when it comes back), so a reply held by the killed dispatch reaches
// its provider about 65 s after the kill: with a 30 s schedule, about 50 s after the last phase.
// docs is how long an acknowledged document may take after the settling: three ack deadlines
// of CW_INGEST (left out of quiescence), at least 90 s.
func settleBounds(t *testing.T, c *cluster) (settle, docs time.Duration) {
	nc, err := nats.Connect(c.natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("chaos: consumer settings: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ackWait, ingestWait time.Duration
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if name == "CW_DLQ" {
			continue
		}
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("chaos: consumer settings: %v", err)
		}
		infos := s.ListConsumers(ctx)
		for ci := range infos.Info() {
			if name == "CW_INGEST" {
				ingestWait = max(ingestWait, ci.Config.AckWait)
			} else {
				ackWait = max(ackWait, ci.Config.AckWait)
			}
		}
		if err := infos.Err(); err != nil {
			t.Fatalf("chaos: consumer settings: %v", err)
		}
	}
	if err := names.Err(); err != nil {
		t.Fatalf("chaos: consumer settings: %v", err)
	}
	return ackWait + bus.NakDelayMax + settleSlack, max(90*time.Second, 3*ingestWait)
}

// settleSlack is the settling time beyond a redelivery's wait: in-process retries, the stages
// after the one redelivered, the provider doubles' latency, on a loaded machine.
const settleSlack = 15 * time.Second

// waitQuiescent waits until every accepted message is answered (then a few seconds more, for
// late duplicates), or until no consumer has work and nothing observable changed for 10 s, or
// at most limit.
func waitQuiescent(t *testing.T, c *cluster, ld *load, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, since := "", time.Now()
	for time.Now().Before(deadline) {
		if allAnswered(ld) {
			time.Sleep(3 * time.Second)
			return
		}
		p := progress(c, ld)
		if p != last {
			last, since = p, time.Now()
		}
		if busy, why := inFlight(c); busy {
			since = time.Now()
			_ = why
		} else if time.Since(since) > 10*time.Second {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	_, why := inFlight(c)
	var open []string
	for _, it := range ld.l.snapshot() {
		if ld.l.isAccepted(it) && (it.kind == "widget" && !ld.l.widgetAnswered(it) || it.kind != "widget" && !ld.answeredOnProvider(it)) {
			open = append(open, it.kind+" "+it.token)
		}
	}
	t.Logf("chaos: not quiescent after %s (in flight: %s; unanswered: %s)", limit, why, strings.Join(open, ", "))
}

// row is one line of the report.
type row struct {
	name                        string
	accepted, notAccepted       int
	answered, lost              int
	dups, inflight              int
	campaignSends, campaignDups int
	dlq                         int
	docsIndexed, docsUploaded   int
	exits                       int
	lostItems                   []string
}

type report struct {
	rows           []row
	acceptedByKind map[string]int
	campaignSends  int
	dlq            []string
	exits          []string
	notes          []string
}

func (r *report) total() row {
	t := row{name: "total"}
	for _, x := range r.rows {
		t.accepted += x.accepted
		t.notAccepted += x.notAccepted
		t.answered += x.answered
		t.lost += x.lost
		t.dups += x.dups
		t.inflight += x.inflight
		t.campaignSends += x.campaignSends
		t.campaignDups += x.campaignDups
		t.dlq += x.dlq
		t.docsIndexed += x.docsIndexed
		t.docsUploaded += x.docsUploaded
		t.exits += x.exits
	}
	return t
}

func (r *report) table() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "fault\taccepted\tanswered\tlost\tdup replies\tin-flight re-sends\tnot accepted\tcampaign sends\tcampaign dups\tDLQ\tdocs indexed\tunexpected exits\t")
	for _, x := range append(append([]row(nil), r.rows...), r.total()) {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%d\t\n", x.name, x.accepted, x.answered, x.lost, x.dups, x.inflight,
			x.notAccepted, x.campaignSends, x.campaignDups, x.dlq, x.docsIndexed, x.docsUploaded, x.exits)
	}
	w.Flush()
	for _, x := range r.rows {
		for _, l := range x.lostItems {
			fmt.Fprintf(&b, "lost in %q: %s\n", x.name, l)
		}
	}
	for _, d := range r.dlq {
		fmt.Fprintf(&b, "dead letter: %s\n", d)
	}
	for _, e := range r.exits {
		fmt.Fprintf(&b, "unexpected exit: %s\n", e)
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// send is one message a provider double accepted.
type send struct {
	who  string
	text string
	at   time.Time
}

// count builds the report from the ledger, the provider doubles, the database and the DLQ.
func count(t *testing.T, c *cluster, ld *load, spans []phaseSpan, docs []string, refused [][]int, campaignID string, nudgees []int64, docWait time.Duration) *report {
	t.Helper()
	phaseAt := func(at time.Time) int {
		p := 0
		for i, s := range spans {
			if !at.Before(s.start) {
				p = i
			}
		}
		return p
	}
	rep := &report{acceptedByKind: map[string]int{}}
	rep.rows = make([]row, len(spans))
	for i, s := range spans {
		rep.rows[i].name = s.name
	}

	// Stored assistant messages on the channels with their delivery attempts, and the
	// campaign's decisions, read inside the creator's tenant as the schema owner.
	owner, _ := c.pgURLs()
	type stored struct {
		body     string
		attempts int
		who      string
		campaign bool
	}
	var msgs []stored
	sentDecisions := map[string]int{}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	if err != nil {
		t.Fatalf("chaos: connect for the count: %v", err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", ld.creator.ID.String()); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT m.body, COALESCE((SELECT max(dp.attempts) FROM delivery_parts dp WHERE dp.message_id = m.id), 0), e.provider_user_id
			FROM messages m JOIN conversations cv ON cv.id = m.conversation_id JOIN end_users e ON e.id = cv.end_user_id
			WHERE m.role = 'assistant' AND m.channel IN ('whatsapp', 'telegram')`)
		if err != nil {
			return err
		}
		msgs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (stored, error) {
			var s stored
			err := r.Scan(&s.body, &s.attempts, &s.who)
			s.campaign = strings.Contains(s.body, campaignMarker)
			return s, err
		})
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `
			SELECT e.provider_user_id, count(*) FROM nudge_deliveries d JOIN end_users e ON e.id = d.end_user_id
			WHERE d.campaign_id = $1 AND d.status = 'sent' GROUP BY 1`, campaignID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var who string
			var n int
			if err := rows.Scan(&who, &n); err != nil {
				return err
			}
			sentDecisions[who] = n
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("chaos: count in the database: %v", err)
	}
	storedByToken := map[string][]stored{}
	for _, m := range msgs {
		for _, tok := range tokenRE.FindAllString(m.body, -1) {
			storedByToken[tok] = append(storedByToken[tok], m)
		}
	}

	// Provider sends, in order.
	var sends []send
	for _, s := range c.wa.Sent() {
		sends = append(sends, send{who: s.To, text: s.Text, at: s.At})
	}
	for _, s := range c.tg.Sent() {
		sends = append(sends, send{who: strconv.FormatInt(s.ChatID, 10), text: s.Text, at: s.At})
	}
	sort.SliceStable(sends, func(i, j int) bool { return sends[i].at.Before(sends[j].at) })

	items := ld.l.snapshot()
	byToken := map[string]*item{}
	byWho := map[string][]*item{}
	for _, it := range items {
		byToken[it.token] = it
		if it.kind != "widget" {
			byWho[it.who] = append(byWho[it.who], it)
		}
	}
	providerReplies := map[*item]int{}
	campaign := map[string][]time.Time{}
	isNudgee := map[string]bool{}
	for _, n := range nudgees {
		isNudgee[strconv.FormatInt(n, 10)] = true
	}
	for _, s := range sends {
		if strings.Contains(s.text, campaignMarker) {
			campaign[s.who] = append(campaign[s.who], s.at)
			continue
		}
		if isNudgee[s.who] {
			continue // set-up replies to the campaign's recipients
		}
		var hit []*item
		for _, tok := range tokenRE.FindAllString(s.text, -1) {
			if it := byToken[tok]; it != nil && it.who == s.who {
				hit = append(hit, it)
			}
		}
		if len(hit) == 0 {
			// A reply that quotes nothing (the model failed: an apology with passages) answers
			// the sender's questions that were waiting for an answer, except those with a stored
			// reply of their own (quoting their token): that reply's send answers them, even when
			// it comes later (a delivery redelivered after a crash).
			for _, it := range byWho[s.who] {
				if it.accepted && !it.created.After(s.at) && providerReplies[it] == 0 && len(storedByToken[it.token]) == 0 {
					hit = append(hit, it)
				}
			}
		}
		if len(hit) == 0 {
			rep.rows[phaseAt(s.at)].dups++
			rep.notes = append(rep.notes, fmt.Sprintf("reply to %s at %s answers no open question: %.80q", s.who, s.at.Format("15:04:05.000"), s.text))
			continue
		}
		for _, it := range hit {
			providerReplies[it]++
		}
	}

	for _, it := range items {
		r := &rep.rows[it.phase]
		if !it.accepted {
			r.notAccepted++
			continue
		}
		r.accepted++
		rep.acceptedByKind[it.kind]++
		var replies int
		if it.kind == "widget" {
			replies = len(it.widgetReplies)
		} else {
			replies = providerReplies[it]
		}
		if replies == 0 {
			r.lost++
			r.lostItems = append(r.lostItems, fmt.Sprintf("%s %s %s id=%s accepted %s", it.kind, it.who, it.token, it.id, it.acceptedAt.Format("15:04:05.000")))
			continue
		}
		r.answered++
		if extra := replies - 1; extra > 0 {
			// One stored reply delivered more than once, with as many delivery attempts: the
			// documented re-send of a provider call in flight during a crash.
			st := storedByToken[it.token]
			if it.kind != "widget" && len(st) == 1 && st[0].attempts > extra {
				r.inflight += extra
			} else {
				r.dups += extra
				rep.notes = append(rep.notes, fmt.Sprintf("%s %s %s answered %d times (%d stored replies)", it.kind, it.who, it.token, replies, len(st)))
			}
		}
	}

	// Campaign sends: at most one per recipient per occurrence decided "sent".
	campaignAttempts := map[string]int{}
	for _, m := range msgs {
		if m.campaign && m.attempts > 1 {
			campaignAttempts[m.who] += m.attempts - 1
		}
	}
	for who, ats := range campaign {
		for _, at := range ats {
			rep.rows[phaseAt(at)].campaignSends++
			rep.campaignSends++
		}
		extra := ats[min(sentDecisions[who], len(ats)):]
		for _, at := range extra {
			if campaignAttempts[who] > 0 {
				campaignAttempts[who]--
				rep.rows[phaseAt(at)].inflight++
			} else {
				rep.rows[phaseAt(at)].campaignDups++
			}
		}
	}

	// Documents uploaded in each phase. CW_INGEST is not part of quiescence: an acknowledged
	// document gets docWait (settleBounds: three ingest ack deadlines) to leave the pipeline.
	docDeadline := time.Now().Add(docWait)
	for i, id := range docs {
		if len(refused[i]) > 0 {
			rep.notes = append(rep.notes, fmt.Sprintf("document upload in %q refused %d times (statuses %v; 0 = no answer)", spans[i].name, len(refused[i]), refused[i]))
		}
		if id == "" {
			if i < len(spans)-1 {
				rep.rows[i].docsUploaded++ // attempted, never accepted
			}
			continue
		}
		rep.rows[i].docsUploaded++
		st := ld.docStatus(id)
		for st != "indexed" && st != "failed" && time.Now().Before(docDeadline) {
			time.Sleep(time.Second)
			st = ld.docStatus(id)
		}
		if st == "indexed" {
			rep.rows[i].docsIndexed++
		} else {
			rep.notes = append(rep.notes, fmt.Sprintf("document uploaded in %q is %s", spans[i].name, st))
		}
	}

	// Dead letters.
	for _, d := range deadLetters(t, c) {
		p := phaseAt(d.at)
		rep.rows[p].dlq++
		rep.dlq = append(rep.dlq, fmt.Sprintf("[%s] %s from %s: %s", spans[p].name, d.at.Format("15:04:05"), d.source, d.reason))
	}
	rep.notes = append(rep.notes, fmt.Sprintf("widget: %d reconnects, %d re-sends of unacked messages (%d after an unavailable frame, %d after rate_limited)",
		ld.reconnects.Load(), ld.resends.Load(), ld.unavailable.Load(), ld.rateLimited.Load()))
	for _, e := range c.exits {
		rep.rows[e.phase].exits++
		rep.exits = append(rep.exits, fmt.Sprintf("[%s] %s: %s", spans[e.phase].name, e.name, e.err))
	}
	return rep
}

type deadLetter struct {
	at             time.Time
	source, reason string
}

// deadLetters reads stream CW_DLQ.
func deadLetters(t *testing.T, c *cluster) []deadLetter {
	nc, err := nats.Connect(c.natsURL)
	if err != nil {
		t.Errorf("chaos: read the DLQ: %v", err)
		return nil
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "CW_DLQ")
	if err != nil {
		t.Errorf("chaos: read the DLQ: %v", err)
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Errorf("chaos: read the DLQ: %v", err)
		return nil
	}
	var out []deadLetter
	for {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Errorf("chaos: read the DLQ: %v", err)
			return out
		}
		n := 0
		for m := range batch.Messages() {
			n++
			d := deadLetter{source: m.Headers().Get(bus.SourceHeader), reason: m.Headers().Get(bus.ReasonHeader)}
			if md, err := m.Metadata(); err == nil {
				d.at = md.Timestamp
			}
			out = append(out, d)
		}
		if n == 0 {
			return out
		}
	}
}
