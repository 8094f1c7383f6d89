package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/testenv"
)

// inboxSeed is how many conversations the inbox test seeds (set-based SQL, in the creator's
// tenant): person i on widget/whatsapp/telegram by i%3, tagged vip when i%10 == 0, taken over
// when i%5 == 0, active i minutes ago, one message "question number i" (person 42 asks about
// magnesium).
const inboxSeed = 10000

// TestConsoleInboxInBrowser drives the Inbox page in Chromium against the whole stack: 10,000
// seeded conversations stay a virtualised list (a few dozen rows in the DOM however far it is
// scrolled, the next pages loaded from the server as it scrolls), search and filters narrow it;
// a widget conversation (the real widget protocol) appears live, is opened from the keyboard,
// the bot's reply streams into the transcript; take over, reply (the person receives it on the
// socket), release; tags and the memory profile edited; the person's data exported (a JSON
// download) and deleted for good through the confirmation. Phone width shows the list, then the
// transcript. axe-core finds no serious or critical violation (the list, a
// conversation taken over, the memory editor, the dialog, phone width).
func TestConsoleInboxInBrowser(t *testing.T) {
	t.Parallel()
	axe := consoleAxe(t)
	// The shared app's loopback model writes its reply in small pieces with a pause between
	// them (40 ms), so the transcript can show the reply as it grows.
	a, h := sharedConsoleApp(t)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	apiDo := func(method, path string, body, out any) int {
		t.Helper()
		st, raw, err := c.Do(context.Background(), method, path, cr.AccessToken, body, out)
		require.NoError(t, err, "%s %s: %s", method, path, raw)
		return st
	}

	// 10,000 conversations, set-based, in the creator's tenant.
	start := time.Now()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, h.db.AppURL)
	require.NoError(t, err)
	for _, sql := range []string{
		"BEGIN",
		"SELECT set_config('app.creator_id', '" + cr.ID.String() + "', true)",
		fmt.Sprintf(`INSERT INTO end_users (id, creator_id, channel, external_id, display_name, tags)
			SELECT gen_random_uuid(), '%s', (ARRAY['widget','whatsapp','telegram'])[1 + i %% 3], 'seed-' || i, 'Seed person ' || i,
			       CASE WHEN i %% 10 = 0 THEN ARRAY['vip'] ELSE '{}'::text[] END
			FROM generate_series(1, %d) i`, cr.ID, inboxSeed),
		fmt.Sprintf(`INSERT INTO conversations (id, creator_id, end_user_id, channel, status, last_activity_at)
			SELECT gen_random_uuid(), '%s', e.id, e.channel, CASE WHEN x.i %% 5 = 0 THEN 'human' ELSE 'bot' END, now() - x.i * interval '1 minute'
			FROM end_users e, LATERAL (SELECT substring(e.external_id FROM 6)::int AS i) x WHERE e.external_id LIKE 'seed-%%'`, cr.ID),
		fmt.Sprintf(`INSERT INTO messages (id, creator_id, conversation_id, role, body, channel, status)
			SELECT gen_random_uuid(), '%s', v.id, 'user',
			       CASE WHEN x.i = 42 THEN 'Are magnesium supplements useful for sleep?' ELSE 'question number ' || x.i END, v.channel, 'received'
			FROM conversations v JOIN end_users e ON e.id = v.end_user_id, LATERAL (SELECT substring(e.external_id FROM 6)::int AS i) x
			WHERE e.external_id LIKE 'seed-%%'`, cr.ID),
		"COMMIT",
	} {
		_, err := conn.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	require.NoError(t, conn.Close(ctx))
	t.Logf("seeded %d conversations in %s", inboxSeed, time.Since(start).Round(time.Millisecond))

	b := newConsoleBrowser(t, "console", `{path: location.pathname, text: document.body.innerText.slice(0, 3000)}`)
	downloads := b.allowDownloads(t)
	b.do(t, "open the console", chromedp.Navigate(a.URL+"/console/inbox"))
	b.poll(t, "the sign-in page", `document.querySelector('h1')?.textContent === 'Sign in'`)
	b.typeInto(t, "type the email", `#signin-email`, cr.Email)
	b.typeInto(t, "type the password", `#signin-password`, "correct horse battery")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the Inbox page, live", `location.pathname === '/console/inbox' && document.querySelector('h1')?.textContent === 'Inbox' &&
	  document.querySelectorAll('#inbox-rows [role=option]').length > 0 && document.querySelector('.live-text')?.textContent === 'Live'`)
	require.Equal(t, "page", b.eval(t, `document.querySelector('#console-nav a[href="/console/inbox"]').getAttribute('aria-current')`))
	b.do(t, "mark the page", chromedp.Evaluate[chromedp.Void](`window.__page = 'same page'`))
	domRows := func() int {
		var n int
		_, err := fmt.Sscan(b.eval(t, `String(document.querySelectorAll('#inbox-rows [role=option]').length)`), &n)
		require.NoError(t, err)
		return n
	}
	require.Less(t, domRows(), 60, "only the rows in view are in the DOM")
	require.Equal(t, "Seed person 1", b.eval(t, `document.querySelector('#inbox-rows [aria-posinset="1"] .irow-name').textContent`))
	b.axe(t, axe, "inbox, 10,000 conversations")

	// Scrolling to the end loads the next pages from the server; the DOM keeps a window.
	for i := 0; i < 4; i++ {
		before := b.eval(t, `document.querySelector('#inbox-rows [role=option]').getAttribute('aria-setsize')`)
		b.do(t, "scroll to the end", chromedp.Evaluate[chromedp.Void](`(() => { const l = document.querySelector('#inbox-rows'); l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event('scroll')); })()`))
		b.poll(t, "the next page", fmt.Sprintf(`Number(document.querySelector('#inbox-rows [role=option]').getAttribute('aria-setsize')) > %s`, before))
		require.Less(t, domRows(), 60, "still a window of rows after scrolling")
	}
	setsize := b.eval(t, `document.querySelector('#inbox-rows [role=option]').getAttribute('aria-setsize')`)
	require.Equal(t, "250", setsize, "five pages of 50 loaded")
	require.Contains(t, b.eval(t, `Array.from(document.querySelectorAll('#inbox-rows .irow-name')).map((e) => e.textContent).join('|')`), "Seed person 2", "rows deep in the list are drawn")

	// Search and filters.
	b.typeInto(t, "search", `#inbox-search`, "magnesium")
	b.poll(t, "one match", `document.querySelectorAll('#inbox-rows [role=option]').length === 1 &&
	  document.querySelector('#inbox-rows .irow-name').textContent === 'Seed person 42' && document.querySelector('#inbox-rows .irow-preview').textContent.includes('magnesium')`)
	b.typeInto(t, "search more", `#inbox-search`, "zzz")
	b.poll(t, "no match", `document.querySelector('.empty-title')?.textContent === 'No conversations match these filters.'`)
	b.do(t, "clear the filters", chromedp.Click(chromedp.CSS(`.inbox-list .empty button`)))
	b.poll(t, "every conversation again", `document.querySelector('#inbox-rows [aria-posinset="1"] .irow-name')?.textContent === 'Seed person 1'`)
	pick := func(css, value string) {
		b.do(t, "choose "+value, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const s = document.querySelector(%q);
		  Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set.call(s, %q); s.dispatchEvent(new Event('change', {bubbles: true})); })()`, css, value)))
	}
	pick("#inbox-channel", "telegram")
	pick("#inbox-status", "human")
	b.typeInto(t, "type a tag", `#inbox-tag`, "vip")
	// vip (i%10 == 0) on telegram (i%3 == 2), taken over (i%5 == 0): i = 20, 50, 80, ...
	b.poll(t, "the filtered rows", `(() => { const rows = Array.from(document.querySelectorAll('#inbox-rows [role=option]'));
	  return rows.length > 0 && rows[0].querySelector('.irow-name').textContent === 'Seed person 20' &&
	    rows.every((r) => r.textContent.includes('Telegram') && r.textContent.includes('Taken over') && r.textContent.includes('#vip')); })()`)
	require.Equal(t, "Seed person 50", b.eval(t, `document.querySelector('#inbox-rows [aria-posinset="2"] .irow-name').textContent`))
	b.do(t, "clear the tag", chromedp.Evaluate[chromedp.Void](`document.querySelector('#inbox-tag').select()`))
	b.do(t, "delete it", chromedp.KeyEvent("\b"))
	pick("#inbox-channel", "")
	pick("#inbox-status", "")
	b.poll(t, "every conversation again", `document.querySelector('#inbox-rows [aria-posinset="1"] .irow-name')?.textContent === 'Seed person 1'`)

	// A person writes on the web widget: the conversation appears live at the top.
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(context.Background(), sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	const q1 = "How do I keep a bedtime routine?"
	_, err = ws.Say(context.Background(), q1)
	require.NoError(t, err)
	b.poll(t, "the new conversation at the top", fmt.Sprintf(`document.querySelector('#inbox-rows [aria-posinset="1"]')?.dataset.row === %q`, sess.ConversationID.String()))
	ws.Next(t, 60*time.Second, testenv.IsReply)
	require.Equal(t, "same page", b.eval(t, `window.__page`), "it arrived without a reload")

	// Keyboard: the list is one tab stop; Home and Enter open the first conversation.
	b.do(t, "focus the list", chromedp.Focus(chromedp.CSS(`#inbox-rows`)))
	b.do(t, "press End", chromedp.KeyEvent("\ue010"))
	b.do(t, "press Home", chromedp.KeyEvent("\ue011"))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the transcript", fmt.Sprintf(`location.pathname === '/console/inbox/%s' && document.querySelectorAll('.transcript .msg-user').length === 1 &&
	  document.querySelectorAll('.transcript .msg-assistant:not(.msg-draft)').length === 1 && document.querySelector('.live-text')?.textContent === 'Live'`, sess.ConversationID))
	require.Contains(t, b.eval(t, `document.querySelector('.transcript .msg-user').textContent`), q1)

	// The next reply streams into the transcript as the bot writes it.
	b.do(t, "watch the draft", chromedp.Evaluate[chromedp.Void](`(() => {
	  window.__drafts = [];
	  const t = setInterval(() => { const d = document.querySelector('.transcript .msg-draft .msg-text');
	    if (d && document.querySelectorAll('.transcript .msg-assistant:not(.msg-draft)').length === 1) window.__drafts.push(d.textContent);
	    if (document.querySelectorAll('.transcript .msg-assistant:not(.msg-draft)').length === 2) clearInterval(t); }, 10);
	})()`))
	const q2 = "And what if I wake up at night?"
	_, err = ws.Say(context.Background(), q2)
	require.NoError(t, err)
	reply := ws.Next(t, 60*time.Second, testenv.IsReply)
	b.poll(t, "the final reply", fmt.Sprintf(`document.querySelectorAll('.transcript .msg-assistant:not(.msg-draft)').length === 2 && !document.querySelector('.msg-draft') &&
	  Array.from(document.querySelectorAll('.transcript .msg-user')).map((m) => m.querySelector('.msg-text').textContent).join('|') === %q`, q1+"|"+q2))
	drafts := run(t, b, "read the drafts", chromedp.Evaluate[[]string](`window.__drafts`))
	require.NotEmpty(t, drafts, "the reply showed as a draft before it was final")
	for _, d := range drafts {
		require.True(t, strings.HasPrefix(reply.Text, d), "a draft is the start of the reply: %q / %q", d, reply.Text)
	}
	require.Less(t, len(drafts[0]), len(reply.Text), "the reply showed partly written first")
	t.Logf("the transcript showed %d draft samples (first %d of %d characters) before the final reply", len(drafts), len(drafts[0]), len(reply.Text))

	// Take over, reply (the person receives it), release.
	b.do(t, "click Take over", chromedp.Click(chromedp.Search(`//button[text()="Take over"]`)))
	b.poll(t, "taken over", `document.querySelector('[data-conv-status]')?.dataset.convStatus === 'human'`)
	const mine = "Hi, your coach here in person: keep the lights low."
	b.typeInto(t, "type a reply", `#reply-text`, mine)
	b.do(t, "click Send", chromedp.Click(chromedp.Search(`//button[text()="Send"]`)))
	got := ws.Next(t, 30*time.Second, func(f testenv.Frame) bool { return f.Type == "message" && f.Role == "creator" })
	require.Equal(t, mine, got.Text, "the person received the reply")
	b.poll(t, "the reply in the transcript", fmt.Sprintf(`Array.from(document.querySelectorAll('.transcript .msg-creator')).some((m) => m.textContent.includes(%q)) && document.querySelector('#reply-text').value === ''`, mine))
	b.axe(t, axe, "inbox, taken over")
	b.do(t, "click Release", chromedp.Click(chromedp.Search(`//button[text()="Release to the bot"]`)))
	b.poll(t, "released", `document.querySelector('[data-conv-status]')?.dataset.convStatus === 'bot'`)

	// Tags and the memory profile.
	b.do(t, "select the tags", chromedp.Evaluate[chromedp.Void](`document.querySelector('#person-tags').select()`))
	b.typeInto(t, "type tags", `#person-tags`, "vip, sleep")
	b.do(t, "click Save tags", chromedp.Click(chromedp.Search(`//button[text()="Save tags"]`)))
	b.poll(t, "tags saved", `document.querySelector('.person .notice')?.textContent === 'Tags saved.'`)
	var eu struct {
		Tags []string `json:"tags"`
	}
	require.Equal(t, http.StatusOK, apiDo("GET", "/api/v1/end-users/"+sess.EndUserID.String(), nil, &eu))
	require.Equal(t, []string{"vip", "sleep"}, eu.Tags)
	b.do(t, "click Edit profile", chromedp.Click(chromedp.Search(`//button[text()="Edit profile"]`)))
	b.poll(t, "the profile form", `!!document.querySelector('#memory-goals')`)
	b.axe(t, axe, "inbox, editing the memory profile")
	b.typeInto(t, "type a goal", `#memory-goals`, "Asleep by eleven")
	b.do(t, "click Save profile", chromedp.Click(chromedp.Search(`//button[text()="Save profile"]`)))
	b.poll(t, "the profile", `document.querySelector('.person .notice')?.textContent === 'Memory profile saved.' && document.querySelector('dl.memory')?.textContent.includes('Asleep by eleven')`)
	var mem struct {
		Profile struct {
			Goals []string `json:"goals"`
		} `json:"profile"`
	}
	require.Equal(t, http.StatusOK, apiDo("GET", "/api/v1/end-users/"+sess.EndUserID.String()+"/memory", nil, &mem))
	require.Contains(t, mem.Profile.Goals, "Asleep by eleven")

	// Export: a JSON download with their messages, profile and tags.
	b.do(t, "click Export", chromedp.Click(chromedp.Search(`//button[text()="Export data (JSON)"]`)))
	b.poll(t, "the export notice", `document.querySelector('.notice')?.textContent.startsWith('Exported')`)
	var export []byte
	testenv.Eventually(t, 30*time.Second, func() bool {
		export, _ = os.ReadFile(filepath.Join(downloads, "end-user-"+sess.EndUserID.String()+".json"))
		return json.Valid(export)
	}, "the downloaded export")
	for _, want := range []string{q1, q2, mine, "Asleep by eleven", `"sleep"`} {
		require.Contains(t, string(export), want)
	}

	// Delete for good, through the confirmation.
	b.do(t, "click Delete", chromedp.Click(chromedp.Search(`//button[text()="Delete person…"]`)))
	b.poll(t, "the dialog", `document.querySelector('dialog.dialog')?.open && document.activeElement.textContent === 'Cancel'`)
	b.axe(t, axe, "inbox, delete dialog")
	b.do(t, "confirm", chromedp.Click(chromedp.CSS(`dialog.dialog button[type="submit"]`)))
	b.poll(t, "back to the list", fmt.Sprintf(`location.pathname === '/console/inbox' && document.querySelector('.notice')?.textContent.includes('deleted') &&
	  document.querySelector('#inbox-rows [aria-posinset="1"]')?.dataset.row !== %q`, sess.ConversationID.String()))
	require.Equal(t, http.StatusNotFound, apiDo("GET", "/api/v1/end-users/"+sess.EndUserID.String(), nil, nil))
	require.Equal(t, http.StatusNotFound, apiDo("GET", "/api/v1/conversations/"+sess.ConversationID.String()+"/messages", nil, nil))

	// Phone width: the list, then one conversation with a way back.
	b.do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.poll(t, "the list alone", `getComputedStyle(document.querySelector('.inbox-detail')).display === 'none' && document.querySelectorAll('#inbox-rows [role=option]').length > 0`)
	require.Equal(t, "0", b.eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`), "no horizontal scrolling at phone width")
	b.axe(t, axe, "inbox at phone size")
	b.do(t, "tap the first row", chromedp.Click(chromedp.CSS(`#inbox-rows [aria-posinset="1"]`)))
	b.poll(t, "the transcript alone", `getComputedStyle(document.querySelector('.inbox-list')).display === 'none' && document.querySelectorAll('.transcript .msg').length > 0 &&
	  getComputedStyle(document.querySelector('.inbox-back')).display !== 'none'`)
	require.Equal(t, "0", b.eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`), "no horizontal scrolling at phone width")
	b.axe(t, axe, "a conversation at phone size")
	b.do(t, "back", chromedp.Click(chromedp.CSS(`.inbox-back`)))
	b.poll(t, "the list again", `location.pathname === '/console/inbox' && getComputedStyle(document.querySelector('.inbox-list')).display !== 'none'`)

	require.Empty(t, b.exceptions(), "uncaught exceptions on the page")
}
