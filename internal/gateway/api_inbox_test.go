package gateway_test

// The console's inbox (issue 11): conversation filters, keyset paging and full-text search, and
// an end user's data exported and deleted for good.

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/analytics"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// inTenantSQL runs statements (each with args) in one transaction of creator c's tenant.
func inTenantSQL(t *testing.T, c uuid.UUID, stmts ...func(exec func(sql string, args ...any))) {
	t.Helper()
	ctx := context.Background()
	conn, err := testenv.Store(t).Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "BEGIN; SELECT set_config('app.creator_id', '"+c.String()+"', true)"); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			_, _ = conn.Exec(ctx, "ROLLBACK")
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for _, s := range stmts {
		s(exec)
	}
	exec("COMMIT")
}

type inboxRow struct {
	ID            uuid.UUID `json:"id"`
	EndUserID     uuid.UUID `json:"end_user_id"`
	Channel       string    `json:"channel"`
	Status        string    `json:"status"`
	DisplayName   string    `json:"display_name"`
	Handle        string    `json:"handle"`
	Tags          []string  `json:"tags"`
	OptedOut      bool      `json:"opted_out"`
	AwaitingReply bool      `json:"awaiting_reply"`
	LastMessage   *struct {
		Role string `json:"role"`
		Text string `json:"text"`
	} `json:"last_message"`
	LastActivityAt time.Time `json:"last_activity_at"`
}

type inboxPage struct {
	Conversations []inboxRow `json:"conversations"`
	NextCursor    string     `json:"next_cursor"`
}

// seedInbox creates n people of creator c, one conversation and one message each, set-based:
// person i is on widget/whatsapp/telegram by i%3, tagged vip when i%10 == 0, opted out when
// i%7 == 0, taken over when i%5 == 0, active i minutes ago; their message says "question
// number i", and person 42 asks about "magnesium supplements".
func seedInbox(t *testing.T, c uuid.UUID, n int) {
	t.Helper()
	inTenantSQL(t, c, func(exec func(string, ...any)) {
		exec(`INSERT INTO end_users (id, creator_id, channel, external_id, display_name, tags, opted_out_at)
			SELECT gen_random_uuid(), $1, (ARRAY['widget','whatsapp','telegram'])[1 + i % 3], 'seed-' || i, 'Seed person ' || i,
			       CASE WHEN i % 10 = 0 THEN ARRAY['vip'] ELSE '{}'::text[] END, CASE WHEN i % 7 = 0 THEN now() END
			FROM generate_series(1, $2::int) i`, c, n)
		exec(`INSERT INTO conversations (id, creator_id, end_user_id, channel, status, last_activity_at)
			SELECT gen_random_uuid(), $1, e.id, e.channel, CASE WHEN i % 5 = 0 THEN 'human' ELSE 'bot' END,
			       now() - i * interval '1 minute'
			FROM end_users e, LATERAL (SELECT substring(e.external_id FROM 6)::int AS i) x
			WHERE e.external_id LIKE 'seed-%'`, c)
		exec(`INSERT INTO messages (id, creator_id, conversation_id, role, body, channel, status)
			SELECT gen_random_uuid(), $1, v.id, 'user',
			       CASE WHEN x.i = 42 THEN 'Are magnesium supplements useful for sleep?' ELSE 'question number ' || x.i END, v.channel, 'received'
			FROM conversations v JOIN end_users e ON e.id = v.end_user_id, LATERAL (SELECT substring(e.external_id FROM 6)::int AS i) x
			WHERE e.external_id LIKE 'seed-%'`, c)
	})
}

// TestInboxListing: the inbox's filters (channel, status, taken over, tags, opted out, end
// user), keyset paging over every conversation exactly once, full-text search, the last message's text only for principals that read content,
// and another workspace's conversations never listed.
func TestInboxListing(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	a, b := e.c.Register(t), e.c.Register(t)
	const n = 1200
	seedInbox(t, a.ID, n)
	seedInbox(t, b.ID, 20)

	list := func(token, query string) inboxPage {
		t.Helper()
		st, _, raw := e.call(t, "GET", "/api/v1/conversations?"+query, token, nil)
		if st != http.StatusOK {
			t.Fatalf("list ?%s: %d %s", query, st, raw)
		}
		return decode[inboxPage](t, raw)
	}
	all := func(query string) []inboxRow {
		t.Helper()
		var out []inboxRow
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatal("paging does not end")
			}
			q := query + "&limit=500"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			p := list(a.AccessToken, q)
			out = append(out, p.Conversations...)
			if p.NextCursor == "" {
				return out
			}
			cursor = p.NextCursor
		}
	}

	// Every conversation once, newest activity first; the rows carry what the inbox shows.
	rows := all("")
	seen := map[uuid.UUID]bool{}
	for i, r := range rows {
		if seen[r.ID] {
			t.Fatalf("%s listed twice", r.ID)
		}
		seen[r.ID] = true
		if i > 0 && r.LastActivityAt.After(rows[i-1].LastActivityAt) {
			t.Fatalf("row %d is newer than row %d", i, i-1)
		}
		if !strings.HasPrefix(r.DisplayName, "Seed person ") || !strings.HasPrefix(r.Handle, "seed-") || r.LastMessage == nil ||
			r.LastMessage.Role != "user" || r.LastMessage.Text == "" || !r.AwaitingReply {
			t.Fatalf("row %+v", r)
		}
	}
	if len(rows) != n {
		t.Fatalf("%d rows over every page, want %d", len(rows), n)
	}
	if rows[0].DisplayName != "Seed person 1" {
		t.Fatalf("first row %q", rows[0].DisplayName)
	}

	count := func(query string, want int, check func(inboxRow) bool) {
		t.Helper()
		got := all(query)
		if len(got) != want {
			t.Fatalf("?%s: %d rows, want %d", query, len(got), want)
		}
		for _, r := range got {
			if !check(r) {
				t.Fatalf("?%s: row %+v", query, r)
			}
		}
	}
	count("channel=telegram", n/3, func(r inboxRow) bool { return r.Channel == "telegram" })
	count("taken_over=true", n/5, func(r inboxRow) bool { return r.Status == "human" })
	count("status=human", n/5, func(r inboxRow) bool { return r.Status == "human" })
	count("taken_over=false", n-n/5, func(r inboxRow) bool { return r.Status == "bot" })
	count("tag=vip", n/10, func(r inboxRow) bool { return len(r.Tags) == 1 && r.Tags[0] == "vip" })
	count("tag=vip&tag=other", 0, nil)
	count("opted_out=true", n/7, func(r inboxRow) bool { return r.OptedOut })
	count("opted_out=false", n-n/7, func(r inboxRow) bool { return !r.OptedOut })
	// vip (i%10 == 0) is taken over too (i%5 == 0); widget is i%3 == 0: i%30 == 0.
	count("tag=vip&taken_over=true&channel=widget", n/30, func(r inboxRow) bool { return r.Channel == "widget" && r.Status == "human" })
	count("end_user_id="+rows[3].EndUserID.String(), 1, func(r inboxRow) bool { return r.ID == rows[3].ID })

	// Search: words (the last one a prefix), case-insensitive; or the name.
	count("q=magnesium", 1, func(r inboxRow) bool { return r.DisplayName == "Seed person 42" })
	count("q=MAGNES", 1, func(r inboxRow) bool { return r.DisplayName == "Seed person 42" })
	count("q=supplements+magnes", 1, func(r inboxRow) bool { return r.DisplayName == "Seed person 42" })
	count("q=number+1198", 1, func(r inboxRow) bool { return r.DisplayName == "Seed person 1198" })
	count("q=person+1199", 1, func(r inboxRow) bool { return r.Handle == "seed-1199" })
	count("q=magnesium&channel=telegram", 0, nil) // person 42 is on widget (42 % 3 == 0)
	count("q=%25%25", 0, nil)                     // nothing searchable, no name matches "%%"
	count("q=zzzz", 0, nil)

	// A search reads the word index (message_terms) through its btree under the tenant policy,
	// never the messages. (The test's tables are small enough for a sequential scan of
	// message_terms to be cheaper, so that is ruled out: what is checked is that the index is
	// usable under forced row-level security at all, which a GIN index on the messages' tsvector
	// is not.)
	ctx := context.Background()
	conn, err := testenv.Store(t).Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	func() {
		defer conn.Release()
		if _, err := conn.Exec(ctx, "BEGIN; SELECT set_config('app.creator_id', '"+a.ID.String()+"', true); SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, "ROLLBACK") //nolint:errcheck
		rows, err := conn.Query(ctx, `EXPLAIN SELECT t.conversation_id FROM message_terms t
			JOIN unnest($1::text[]) WITH ORDINALITY AS w (lo, n) ON t.term >= (w.lo COLLATE "C") AND t.term < (($2::text[])[w.n] COLLATE "C")
			GROUP BY t.conversation_id HAVING count(DISTINCT w.n) = cardinality($1::text[])`,
			[]string{"magnesium", "supp"}, []string{"magnesium\x01", "supp\U0010FFFF"})
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			_ = rows.Scan(&line)
			plan.WriteString(line + "\n")
		}
		rows.Close()
	}()
	if !strings.Contains(plan.String(), "message_terms_search") || strings.Contains(plan.String(), " on messages") {
		t.Fatalf("the search does not use message_terms_search:\n%s", plan.String())
	}

	// Bad input.
	for _, q := range []string{"cursor=zz", "taken_over=maybe", "opted_out=2", "channel=sms", "limit=0", "end_user_id=x",
		"q=" + strings.Repeat("a", 201), "tag=" + strings.Repeat("t", 65), "status=bot&taken_over=true"} {
		if st, code, _ := e.call(t, "GET", "/api/v1/conversations?"+q, a.AccessToken, nil); st != http.StatusBadRequest {
			t.Errorf("?%s: %d %s", q, st, code)
		}
	}

	// A viewer without message content: rows without the text, no search.
	viewer := e.join(t, a.AccessToken, "viewer", false)
	p := list(viewer.AccessToken, "limit=5")
	if len(p.Conversations) != 5 || p.Conversations[0].LastMessage == nil || p.Conversations[0].LastMessage.Text != "" {
		t.Fatalf("viewer's rows: %+v", p.Conversations)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/conversations?q=magnesium", viewer.AccessToken, nil); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("viewer searching: %d %s", st, code)
	}
	// An agent reads content and searches.
	agent := e.join(t, a.AccessToken, "agent", false)
	if p := list(agent.AccessToken, "q=magnesium"); len(p.Conversations) != 1 || !strings.Contains(p.Conversations[0].LastMessage.Text, "magnesium") {
		t.Fatalf("agent's search: %+v", p)
	}

	// One conversation as a row; B's is unknown to A.
	st, _, raw := e.call(t, "GET", "/api/v1/conversations/"+rows[0].ID.String(), a.AccessToken, nil)
	if one := decode[inboxRow](t, raw); st != http.StatusOK || one.ID != rows[0].ID || one.DisplayName != rows[0].DisplayName {
		t.Fatalf("one: %d %s", st, raw)
	}
	bRows := list(b.AccessToken, "")
	if len(bRows.Conversations) != 20 {
		t.Fatalf("B's inbox: %d rows", len(bRows.Conversations))
	}
	for _, r := range bRows.Conversations {
		if seen[r.ID] {
			t.Fatalf("B sees A's conversation %s", r.ID)
		}
	}
	if st, _, _ := e.call(t, "GET", "/api/v1/conversations/"+bRows.Conversations[0].ID.String(), a.AccessToken, nil); st != http.StatusNotFound {
		t.Fatalf("B's conversation for A: %d", st)
	}
	if st, _, _ := e.call(t, "GET", "/api/v1/conversations/events?conversation_id="+bRows.Conversations[0].ID.String(), a.AccessToken, nil); st != http.StatusNotFound {
		t.Fatalf("B's conversation stream for A: %d", st)
	}
}

// TestEndUserExportAndDelete: the export holds the person, their consents, memory, tags,
// conversations with every message, enrollments; deleting removes every row of theirs in every
// table (the analytics rows that name them too) and nothing of anyone else's; a second delete
// answers 404, as does another workspace's end user for export and delete; agents and editors
// can do neither.
func TestEndUserExportAndDelete(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	a, b := e.c.Register(t), e.c.Register(t)
	fxA := e.fixtures(t, a, false) // a widget person with an enrollment
	fxB := e.fixtures(t, b, false)
	person := uuid.MustParse(fxA["end_user"])
	conv := uuid.MustParse(fxA["conversation"])
	keep := e.c.StartWidget(t, a.WidgetKey, "anon-keep-"+uuid.NewString()[:8])

	// Their words, memory, tags, an opt-out.
	store := testenv.Store(t)
	ctx := context.Background()
	for _, who := range []struct{ conv uuid.UUID }{{conv}, {keep.ConversationID}} {
		if err := store.InTenant(ctx, a.ID, func(q *db.Queries) error {
			_, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: a.ID, ConversationID: who.conv, Role: "user",
				Body: "I want to sleep by eleven", Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if st, _, raw := e.call(t, "PUT", "/api/v1/end-users/"+person.String()+"/memory", a.AccessToken,
		map[string]any{"profile": map[string]any{"goals": []string{"sleep by eleven"}}}); st != http.StatusOK {
		t.Fatalf("memory: %d %s", st, raw)
	}
	if st, _, raw := e.call(t, "PUT", "/api/v1/end-users/"+person.String()+"/tags", a.AccessToken, map[string]any{"tags": []string{"vip"}}); st != http.StatusOK {
		t.Fatalf("tags: %d %s", st, raw)
	}
	inTenantSQL(t, a.ID, func(exec func(string, ...any)) {
		exec(`UPDATE end_users SET opted_out_at = now() WHERE id = $1`, person)
	})

	// Who may: owner and admin; not an agent, an editor or a viewer with content.
	admin := e.join(t, a.AccessToken, "admin", false)
	for _, r := range []string{"agent", "editor"} {
		s := e.join(t, a.AccessToken, r, true)
		if st, code, _ := e.call(t, "GET", "/api/v1/end-users/"+person.String()+"/export", s.AccessToken, nil); st != http.StatusForbidden || code != "forbidden" {
			t.Fatalf("%s export: %d %s", r, st, code)
		}
		if st, code, _ := e.call(t, "DELETE", "/api/v1/end-users/"+person.String(), s.AccessToken, nil); st != http.StatusForbidden || code != "forbidden" {
			t.Fatalf("%s delete: %d %s", r, st, code)
		}
	}

	// The export.
	st, raw := e.raw(t, "GET", "/api/v1/end-users/"+person.String()+"/export", admin.AccessToken, "", nil)
	if st != http.StatusOK {
		t.Fatalf("export: %d %s", st, raw)
	}
	var ex struct {
		Format  string `json:"format"`
		EndUser struct {
			ID   uuid.UUID `json:"id"`
			Tags []string  `json:"tags"`
		} `json:"end_user"`
		Consents struct {
			OptedOut bool `json:"opted_out"`
		} `json:"consents"`
		Memory struct {
			Profile struct {
				Goals []string `json:"goals"`
			} `json:"profile"`
			EditedByCreator bool `json:"edited_by_creator"`
		} `json:"memory"`
		Conversations []struct {
			ID       uuid.UUID `json:"id"`
			Channel  string    `json:"channel"`
			Messages []struct {
				Role string `json:"role"`
				Text string `json:"text"`
			} `json:"messages"`
		} `json:"conversations"`
		Enrollments []struct {
			ProgramName string `json:"program_name"`
		} `json:"program_enrollments"`
	}
	if err := json.Unmarshal(raw, &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Format != "coachwire.end_user.v1" || ex.EndUser.ID != person || len(ex.EndUser.Tags) != 1 || !ex.Consents.OptedOut ||
		len(ex.Memory.Profile.Goals) != 1 || !ex.Memory.EditedByCreator || len(ex.Conversations) != 1 || ex.Conversations[0].ID != conv ||
		len(ex.Conversations[0].Messages) == 0 || len(ex.Enrollments) != 1 || ex.Enrollments[0].ProgramName != "Fixture" {
		t.Fatalf("export: %s", raw)
	}
	found := false
	for _, m := range ex.Conversations[0].Messages {
		found = found || m.Text == "I want to sleep by eleven"
	}
	if !found {
		t.Fatalf("export misses the message: %s", raw)
	}

	// Another workspace's end user: 404 for export and delete, nothing deleted.
	for _, m := range []string{"GET", "DELETE"} {
		path := "/api/v1/end-users/" + fxB["end_user"]
		if m == "GET" {
			path += "/export"
		}
		if st, _, _ := e.call(t, m, path, a.AccessToken, nil); st != http.StatusNotFound {
			t.Fatalf("B's end user, %s by A: %d", m, st)
		}
	}

	// Count every row that names the person, in every table that can.
	rowsOf := func(c uuid.UUID, eu, cv uuid.UUID) map[string]int {
		t.Helper()
		out := map[string]int{}
		conn, err := store.Pool().Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, "BEGIN; SELECT set_config('app.creator_id', '"+c.String()+"', true)"); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, "ROLLBACK") //nolint:errcheck
		for name, sql := range map[string]string{
			"end_users":               `SELECT count(*) FROM end_users WHERE id = $1`,
			"conversations":           `SELECT count(*) FROM conversations WHERE end_user_id = $1`,
			"messages":                `SELECT count(*) FROM messages WHERE conversation_id = $2`,
			"deliveries":              `SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE m.conversation_id = $2`,
			"end_user_memory":         `SELECT count(*) FROM end_user_memory WHERE end_user_id = $1`,
			"program_enrollments":     `SELECT count(*) FROM program_enrollments WHERE end_user_id = $1`,
			"nudge_deliveries":        `SELECT count(*) FROM nudge_deliveries WHERE end_user_id = $1`,
			"analytics_activity":      `SELECT count(*) FROM analytics_activity WHERE end_user_id = $1 OR conversation_id = $2`,
			"analytics_first_contact": `SELECT count(*) FROM analytics_first_contact WHERE end_user_id = $1`,
			"analytics_team_events":   `SELECT count(*) FROM analytics_team_events WHERE conversation_id = $2`,
			"analytics_gaps":          `SELECT count(*) FROM analytics_gaps WHERE conversation_id = $2`,
			"analytics_turns":         `SELECT count(*) FROM analytics_turns WHERE conversation_id = $2`,
			"message_terms":           `SELECT count(*) FROM message_terms WHERE conversation_id = $2`,
		} {
			var n int
			args := []any{eu}
			if strings.Contains(sql, "$2") {
				args = append(args, cv)
			}
			if !strings.Contains(sql, "$1") {
				args = []any{cv}
				sql = strings.ReplaceAll(sql, "$2", "$1")
			}
			if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = n
		}
		return out
	}
	if _, err := analytics.Apply(ctx, store, a.ID); err != nil { // the queued messages into the rollups
		t.Fatal(err)
	}
	before := rowsOf(a.ID, person, conv)
	for _, must := range []string{"end_users", "conversations", "messages", "end_user_memory", "program_enrollments", "analytics_activity", "analytics_first_contact", "message_terms"} {
		if before[must] == 0 {
			t.Fatalf("no %s row before the delete (the check cannot fail): %v", must, before)
		}
	}
	keptBefore := rowsOf(a.ID, keep.EndUserID, keep.ConversationID)

	if st, _, raw := e.call(t, "DELETE", "/api/v1/end-users/"+person.String(), admin.AccessToken, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d %s", st, raw)
	}
	for table, n := range rowsOf(a.ID, person, conv) {
		if n != 0 {
			t.Errorf("%d %s rows left after the delete", n, table)
		}
	}
	if kept := rowsOf(a.ID, keep.EndUserID, keep.ConversationID); kept["messages"] != keptBefore["messages"] || kept["end_users"] != 1 {
		t.Fatalf("the other person lost data: %v → %v", keptBefore, kept)
	}
	// Again: nothing left to delete; every route of theirs is 404.
	if st, code, _ := e.call(t, "DELETE", "/api/v1/end-users/"+person.String(), a.AccessToken, nil); st != http.StatusNotFound {
		t.Fatalf("second delete: %d %s", st, code)
	}
	for _, p := range []string{"/api/v1/end-users/" + person.String(), "/api/v1/end-users/" + person.String() + "/export",
		"/api/v1/end-users/" + person.String() + "/memory", "/api/v1/conversations/" + conv.String()} {
		if st, _, _ := e.call(t, "GET", p, a.AccessToken, nil); st != http.StatusNotFound {
			t.Fatalf("GET %s after the delete: %d", p, st)
		}
	}
	// B's person is untouched.
	if st, _, _ := e.call(t, "GET", "/api/v1/end-users/"+fxB["end_user"], b.AccessToken, nil); st != http.StatusOK {
		t.Fatalf("B's end user after A's delete: %d", st)
	}
}

// TestConversationEventsCarryDeltas: with ?conversation_id= the creator's event stream also
// carries that conversation's reply as it is written (delta events, from the live frames the
// widget gets), and only that conversation's, of that workspace; without it, no deltas.
func TestConversationEventsCarryDeltas(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	a, b := e.c.Register(t), e.c.Register(t)
	wa := e.c.StartWidget(t, a.WidgetKey, "anon-"+uuid.NewString()[:8])
	wa2 := e.c.StartWidget(t, a.WidgetKey, "anon-"+uuid.NewString()[:8])
	wb := e.c.StartWidget(t, b.WidgetKey, "anon-"+uuid.NewString()[:8])

	open := func(query string) (*bufio.Reader, func()) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/v1/conversations/events"+query, nil)
		req.Header.Set("Authorization", "Bearer "+a.AccessToken)
		res, err := e.ts.Client().Do(req)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("stream: %v %v", err, res)
		}
		time.AfterFunc(30*time.Second, cancel) // a missing event fails the read instead of hanging
		r := bufio.NewReader(res.Body)
		if line, _ := r.ReadString('\n'); line != ": connected\n" {
			t.Fatalf("first line %q", line)
		}
		return r, func() { cancel(); res.Body.Close() }
	}
	next := func(r *bufio.Reader) (string, string) {
		t.Helper()
		var ev, data string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "" && ev != "":
				return ev, data
			case strings.HasPrefix(line, "event: "):
				ev = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}
	publish := func(subject string, v any) {
		t.Helper()
		raw, _ := json.Marshal(v)
		if err := e.bus.Publish(subject, raw); err != nil {
			t.Fatal(err)
		}
	}
	turn := uuid.New()

	r, stop := open("?conversation_id=" + wa.ConversationID.String())
	// Another conversation of A, and B's: not carried. Then A's own.
	publish(events.LiveSubject(a.ID, wa2.ConversationID), events.Live{Kind: "delta", Turn: uuid.New(), Text: "other", Reset: true})
	publish(events.LiveSubject(b.ID, wb.ConversationID), events.Live{Kind: "delta", Turn: uuid.New(), Text: "theirs", Reset: true})
	publish(events.LiveSubject(a.ID, wa.ConversationID), events.Live{Kind: "typing"})
	publish(events.LiveSubject(a.ID, wa.ConversationID), events.Live{Kind: "delta", Turn: turn, Text: "Hel", Reset: true})
	publish(events.LiveSubject(a.ID, wa.ConversationID), events.Live{Kind: "delta", Turn: turn, Text: "lo"})
	for i, want := range []struct {
		text  string
		reset bool
	}{{"Hel", true}, {"lo", false}} {
		ev, data := next(r)
		var d struct {
			ConversationID uuid.UUID `json:"conversation_id"`
			Turn           uuid.UUID `json:"turn"`
			Text           string    `json:"text"`
			Reset          bool      `json:"reset"`
		}
		if err := json.Unmarshal([]byte(data), &d); err != nil || ev != "delta" || d.ConversationID != wa.ConversationID || d.Turn != turn ||
			d.Text != want.text || d.Reset != want.reset {
			t.Fatalf("event %d: %s %s", i, ev, data)
		}
	}
	stop()

	// Without the parameter: activity only.
	r, stop = open("")
	defer stop()
	publish(events.LiveSubject(a.ID, wa.ConversationID), events.Live{Kind: "delta", Turn: turn, Text: "not here", Reset: true})
	publish(events.ActivitySubject(a.ID), events.Activity{Kind: "message", ConversationID: wa.ConversationID, Role: "user", Text: "hi"})
	if ev, data := next(r); ev != "message" || !strings.Contains(data, `"text":"hi"`) {
		t.Fatalf("without conversation_id: %s %s", ev, data)
	}
	// Another workspace's conversation, or a malformed id: 404.
	for _, q := range []string{wb.ConversationID.String(), "nope"} {
		if st, _, _ := e.call(t, "GET", "/api/v1/conversations/events?conversation_id="+q, a.AccessToken, nil); st != http.StatusNotFound {
			t.Fatalf("conversation_id=%s: %d", q, st)
		}
	}
}
