package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/testenv"
)

// TestConsoleProgramsInBrowser builds a program on the builder's canvas in a real Chromium
// against the whole stack: three steps added, connected by mouse drags between their handles
// (next, next, and a reply branch), an unreachable step and a branch that loops back shown on
// their nodes and fixed (the branch from the side panel, with the keyboard), a fourth step
// added, linked and deleted with the keyboard only (panel lists, Enter and Delete on its node), a node moved,
// saved; a reload shows the same graph at the same positions; a test end user enrolled through
// the API moves the first step's count on its node; pause and resume; phone width stacks the
// panel under the canvas. axe-core runs on each page in its most complete state.
func TestConsoleProgramsInBrowser(t *testing.T) {
	t.Parallel()
	axe := consoleAxe(t)
	a, _ := sharedConsoleApp(t)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	api := func(method, path string, body, out any) {
		t.Helper()
		st, raw, err := c.Do(context.Background(), method, path, cr.AccessToken, body, out)
		require.NoError(t, err)
		require.Less(t, st, 300, "%s %s: %d %s", method, path, st, raw)
	}
	// No quiet hours: the first step goes out whenever the test runs.
	api("PATCH", "/api/v1/nudge-policy", map[string]any{"quiet_start": "00:00", "quiet_end": "00:00"}, nil)

	b := newConsoleBrowser(t, "console", `{path: location.pathname, text: document.body.innerText.slice(0, 3000),
		  nodes: Array.from(document.querySelectorAll('.react-flow__node')).map((n) => n.dataset.id + ' ' + n.style.transform),
		  edges: Array.from(document.querySelectorAll('.react-flow__edge')).map((e) => e.dataset.id || e.getAttribute('aria-label'))}`)
	b.do(t, "open the console", chromedp.Navigate(a.URL+"/console/programs"))
	b.poll(t, "the sign-in page", `document.querySelector('h1')?.textContent === 'Sign in'`)
	b.typeInto(t, "type the email", `#signin-email`, cr.Email)
	b.typeInto(t, "type the password", `#signin-password`, "correct horse battery")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the Programs page, empty", `location.pathname === '/console/programs' && document.querySelector('h1')?.textContent === 'Programs' &&
	  document.querySelector('.empty-title')?.textContent === 'No programs yet'`)

	b.do(t, "click New program", chromedp.Click(chromedp.Search(`//button[text()="New program"]`)))
	b.poll(t, "the builder", `location.pathname === '/console/programs/new' && document.querySelector('h1')?.textContent === 'New program' && document.querySelector('.react-flow')`)
	b.typeInto(t, "name", `#program-name`, "Sleep reset")
	b.typeInto(t, "keyword", `#program-keyword`, "SLEEP7")

	// Three steps from the panel's Add step; each new step is selected and edited in the panel.
	node := func(id string) string {
		return fmt.Sprintf(`document.querySelector('.react-flow__node[data-id=%q]')`, id)
	}
	texts := []string{"Welcome to the sleep reset! Reply when you are in bed.", "Did you get to bed on time?", "Great, keep that bedtime tonight."}
	for i, text := range texts {
		id := fmt.Sprintf("s%d", i+1)
		b.do(t, "click Add step", chromedp.Click(chromedp.Search(`//button[text()="Add step"]`)))
		b.poll(t, id+" on the canvas and in the panel", node(id)+` && document.querySelector('.step-form')?.dataset.stepId === '`+id+`'`)
		b.typeInto(t, "text of "+id, `#step-text`, text)
		if i > 0 {
			b.do(t, "select the day", chromedp.Evaluate[chromedp.Void](`document.querySelector('#step-day').select()`))
			b.do(t, "type the day", chromedp.KeyEvent(fmt.Sprint(i)))
		}
	}
	// Nothing connected yet: the second and third steps are unreachable, on their nodes.
	b.poll(t, "unreachable steps marked", node("s2")+`.querySelector('.step-node').dataset.issues === 'unreachable' && `+
		node("s3")+`.querySelector('.step-node').dataset.issues === 'unreachable' && `+node("s1")+`.querySelector('.step-node').dataset.issues === ''`)
	require.Contains(t, b.eval(t, node("s3")+`.getAttribute('aria-label')`), "Unreachable", "the node's label reads the problem")
	b.do(t, "fit the view", chromedp.Click(chromedp.CSS(`.react-flow__controls-fitview`)))

	// Connect by dragging from a node's handle to the next node's input handle.
	handle := func(id, h string) string {
		return fmt.Sprintf(`.react-flow__node[data-id=%q] .react-flow__handle[data-handleid=%q]`, id, h)
	}
	b.mouseDrag(t, "s1 next → s2", handle("s1", "next"), handle("s2", "in"))
	b.poll(t, "s2 reachable, s3 still not", node("s2")+`.querySelector('.step-node').dataset.issues === '' && `+node("s3")+`.querySelector('.step-node').dataset.issues === 'unreachable'`)
	b.mouseDrag(t, "s2 next → s3", handle("s2", "next"), handle("s3", "in"))
	b.poll(t, "every step reachable", `Array.from(document.querySelectorAll('.step-node')).every((n) => n.dataset.issues === '') && document.querySelector('.program-check').textContent === 'No problems found.'`)
	// A reply branch from the last step back to the first: a loop, refused on the node.
	b.mouseDrag(t, "s3 reply → s1", handle("s3", "reply"), handle("s1", "in"))
	b.poll(t, "the branch loop on s3", node("s3")+`.querySelector('.step-node').dataset.issues === 'branch_loop' && document.querySelector('.react-flow__edge[data-id="reply:s3"]')`)
	b.axe(t, axe, "builder with a branch loop")
	// Fixed from the keyboard: s3 is selected (the drag started there); its reply rule is a
	// select in the panel: Home picks "Send this step anyway", which removes the branch.
	b.do(t, "focus the step list", chromedp.Evaluate[chromedp.Void](`document.querySelector('#step-pick').focus()`))
	b.do(t, "pick the last step (s3) with the keyboard", chromedp.KeyEvent(kb.End))
	b.poll(t, "s3 in the panel", `document.querySelector('.step-form')?.dataset.stepId === 's3'`)
	b.do(t, "focus the reply rule", chromedp.Evaluate[chromedp.Void](`document.querySelector('#step-reply').focus()`))
	b.do(t, "choose the first option", chromedp.KeyEvent(kb.Home))
	b.poll(t, "the loop gone", `!document.querySelector('.react-flow__edge[data-id="reply:s3"]') && document.querySelector('.program-check').textContent === 'No problems found.'`)
	// The real branch: a reply before s2 is due skips to s3.
	b.mouseDrag(t, "s2 reply → s3", handle("s2", "reply"), handle("s3", "in"))
	b.poll(t, "the branch edge", `document.querySelector('.react-flow__edge[data-id="reply:s2"]') && document.querySelector('.program-check').textContent === 'No problems found.'`)

	// Keyboard only: add a fourth step with the panel's button, link it from s3 with the "Next
	// step" list, then select its node on the canvas (Enter) and delete it with the Delete key.
	b.do(t, "focus Add step", chromedp.Evaluate[chromedp.Void](`Array.from(document.querySelectorAll('button')).find((e) => e.textContent === 'Add step').focus()`))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "s4 unreachable", node("s4")+`?.querySelector('.step-node').dataset.issues.includes('unreachable') && document.querySelector('.step-form')?.dataset.stepId === 's4'`)
	b.typeInto(t, "text of s4", `#step-text`, "One more.")
	b.do(t, "focus the step list", chromedp.Evaluate[chromedp.Void](`document.querySelector('#step-pick').focus()`))
	b.do(t, "pick s3 (one above the last)", chromedp.KeyEvent(kb.End+kb.ArrowUp))
	b.poll(t, "s3 in the panel", `document.querySelector('.step-form')?.dataset.stepId === 's3'`)
	b.do(t, "focus Next step", chromedp.Evaluate[chromedp.Void](`document.querySelector('#step-next').focus()`))
	b.do(t, "pick the last option (s4)", chromedp.KeyEvent(kb.End))
	b.poll(t, "s4 reachable through s3", `document.querySelector('.react-flow__edge[data-id="next:s3"]') && `+node("s4")+`.querySelector('.step-node').dataset.issues === '' && document.querySelector('.program-check').textContent === 'No problems found.'`)
	b.do(t, "focus the s4 node", chromedp.Evaluate[chromedp.Void](node("s4")+`.focus()`))
	b.do(t, "press Enter to select it", pressEnter())
	b.poll(t, "s4 selected", node("s4")+`.classList.contains('selected')`)
	b.do(t, "press Delete", chromedp.KeyEvent(kb.Delete))
	b.poll(t, "s4 and its edge gone", `!`+node("s4")+` && !document.querySelector('.react-flow__edge[data-id="next:s3"]') && document.querySelectorAll('.react-flow__node').length === 3`)

	// Move the third node by dragging its body.
	before := b.eval(t, node("s3")+`.style.transform`)
	b.mouseDrag(t, "move s3", `.react-flow__node[data-id="s3"] .step-node-text`, `.react-flow__node[data-id="s3"] .step-node-text`, 180, 40)
	moved := b.eval(t, node("s3")+`.style.transform`)
	require.NotEqual(t, before, moved, "the node moved")
	positions := b.eval(t, `Array.from(document.querySelectorAll('.react-flow__node')).map((n) => n.dataset.id + ' ' + n.style.transform).join('|')`)

	b.do(t, "click Create program", chromedp.Click(chromedp.Search(`//button[text()="Create program"]`)))
	b.poll(t, "the saved program's page", `/^\/console\/programs\/[0-9a-f-]{36}$/.test(location.pathname) && document.querySelector('h1')?.textContent === 'Program: Sleep reset' && document.querySelectorAll('.react-flow__node').length === 3`)
	id := strings.TrimPrefix(b.eval(t, `location.pathname`), "/console/programs/")
	var got struct {
		Program struct {
			Keyword string `json:"keyword"`
			Status  string `json:"status"`
			Steps   []struct {
				ID      string `json:"id"`
				Next    string `json:"next"`
				Day     int    `json:"day"`
				OnReply string `json:"on_reply"`
				Content struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"steps"`
			Layout map[string]struct{ X, Y float64 } `json:"layout"`
		} `json:"program"`
	}
	api("GET", "/api/v1/programs/"+id, nil, &got)
	require.Equal(t, "SLEEP7", got.Program.Keyword)
	require.Len(t, got.Program.Steps, 3)
	for i, s := range got.Program.Steps {
		require.Equal(t, fmt.Sprintf("s%d", i+1), s.ID)
		require.Equal(t, i, s.Day)
		require.Equal(t, texts[i], s.Content.Text)
	}
	require.Equal(t, "s2", got.Program.Steps[0].Next)
	require.Equal(t, "s3", got.Program.Steps[1].Next)
	require.Equal(t, "goto:2", got.Program.Steps[1].OnReply, "the branch, stored as the scheduler's index")
	require.Len(t, got.Program.Layout, 3)

	// A reload shows the same graph at the same positions.
	b.do(t, "reload", chromedp.Navigate(a.URL+"/console/programs/"+id))
	b.poll(t, "the program after the reload", `document.querySelector('h1')?.textContent === 'Program: Sleep reset' && document.querySelectorAll('.react-flow__node').length === 3 &&
	  document.querySelectorAll('.react-flow__edge').length === 3`)
	require.Equal(t, positions, b.eval(t, `Array.from(document.querySelectorAll('.react-flow__node')).map((n) => n.dataset.id + ' ' + n.style.transform).join('|')`))
	require.Equal(t, "next:s1,next:s2,reply:s2", b.eval(t, `Array.from(document.querySelectorAll('.react-flow__edge')).map((e) => e.dataset.id).sort().join(',')`))
	require.Equal(t, "SLEEP7", b.eval(t, `document.querySelector('#program-keyword').value`))
	count := func(step, what string) string {
		return b.eval(t, node(step)+`?.querySelector('dd[data-count="`+what+`"]')?.textContent ?? 'none'`)
	}
	require.Equal(t, "0", count("s1", "reached"))
	b.axe(t, axe, "saved program")

	// Enrol a test end user (a widget visitor) through the API; the first step goes out now.
	ws := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString()[:8])
	api("POST", "/api/v1/programs/"+id+"/enrollments", map[string]any{"end_user_id": ws.EndUserID}, nil)
	testenv.Eventually(t, browserWait, func() bool {
		var out struct {
			Steps []struct {
				ProgramID string `json:"program_id"`
				Step      int    `json:"step"`
				Reached   int    `json:"reached"`
			} `json:"steps"`
		}
		st, _, err := c.Do(context.Background(), "GET", "/api/v1/analytics/programs", cr.AccessToken, nil, &out)
		if err != nil || st != http.StatusOK {
			return false
		}
		for _, s := range out.Steps {
			if s.ProgramID == id && s.Step == 0 && s.Reached >= 1 {
				return true
			}
		}
		return false
	}, "the first step to reach the enrolled person")
	b.do(t, "click Refresh counts", chromedp.Click(chromedp.Search(`//button[text()="Refresh counts"]`)))
	b.poll(t, "the count on the first node", node("s1")+`?.querySelector('dd[data-count="reached"]')?.textContent === '1'`)
	require.Equal(t, "0", count("s2", "reached"))

	// Pause and resume.
	b.do(t, "click Pause", chromedp.Click(chromedp.Search(`//button[text()="Pause"]`)))
	b.poll(t, "paused", `document.querySelector('.page-actions .badge')?.textContent === 'Paused'`)
	b.do(t, "click Resume", chromedp.Click(chromedp.Search(`//button[text()="Resume"]`)))
	b.poll(t, "active again", `document.querySelector('.page-actions .badge')?.textContent === 'Active'`)
	if os.Getenv(consoleScreenshotEnv) == "1" {
		shot := run(t, b, "screenshot", chromedp.FullScreenshot(100))
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "programs.png"), shot, 0o644))
	}

	// Phone width: the panel stacks under the canvas, nothing scrolls sideways.
	b.do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.poll(t, "the stacked panel", `document.querySelector('.builder-panel').getBoundingClientRect().top >= document.querySelector('.builder-canvas').getBoundingClientRect().bottom`)
	require.Equal(t, "0", b.eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`), "no horizontal scrolling at phone width")
	b.axe(t, axe, "builder at phone size")
	b.do(t, "desktop viewport", chromedp.EmulateViewport(1280, 900))

	// The list shows the program with its status.
	b.do(t, "back to the list", chromedp.Click(chromedp.Search(`//a[text()="← All programs"]`)))
	b.poll(t, "the list", `document.querySelector('tr[data-program-id="`+id+`"]')?.dataset.status === 'active'`)
	b.axe(t, axe, "programs list")
	require.Empty(t, b.exceptions(), "uncaught exceptions on the page")
}

// mouseDrag presses the left button on the centre of the element css `from` selects, moves
// in steps to the centre of `to` (offset by dxdy, if given) and releases there: real mouse
// events, as a person dragging.
func (b *browser) mouseDrag(t *testing.T, what, from, to string, dxdy ...float64) {
	t.Helper()
	type point struct {
		X float64 `json:"x"`
		Y float64 `json:"y"`
	}
	at := func(css string) point {
		return run(t, b, "locate "+css, chromedp.Evaluate[point](fmt.Sprintf(`(() => { const e = document.querySelector(%q);
		  if (!e) throw new Error('no element ' + %q); const r = e.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()`, css, css)))
	}
	p, q := at(from), at(to)
	if len(dxdy) == 2 {
		q.X, q.Y = q.X+dxdy[0], q.Y+dxdy[1]
	}
	send := func(typ input.DispatchMouseEventType, x, y float64, buttons int64) {
		b.do(t, what+": "+string(typ), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			ev := input.DispatchMouseEventParams{Type: typ, X: x, Y: y, Button: input.MouseButtonLeft, Buttons: buttons, ClickCount: 1}
			if typ == input.DispatchMouseEventTypeMouseMoved {
				ev.ClickCount = 0
				if buttons == 0 {
					ev.Button = input.MouseButtonNone
				}
			}
			_, err := cdp.Call(ctx, tg, input.DispatchMouseEvent, ev)
			return err
		}))
	}
	send(input.DispatchMouseEventTypeMouseMoved, p.X, p.Y, 0)
	send(input.DispatchMouseEventTypeMousePressed, p.X, p.Y, 1)
	const steps = 8
	for i := 1; i <= steps; i++ {
		f := float64(i) / steps
		send(input.DispatchMouseEventTypeMouseMoved, p.X+(q.X-p.X)*f, p.Y+(q.Y-p.Y)*f, 1)
	}
	send(input.DispatchMouseEventTypeMouseReleased, q.X, q.Y, 0)
}
