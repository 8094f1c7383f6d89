package proactive

// A program as the console's builder draws it: steps are nodes (by ID), each step's Next is the
// delay edge to the step that follows, and a "goto" reply rule is a branch edge. CheckProgram
// finds everything wrong with such a graph at once, per step, and gives the steps back in the
// order the scheduler runs them (the order of Next from the first step, branches by index).

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Issue severities: an error refuses the program; a warning is shown but does not.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Issue codes of CheckProgram.
const (
	IssueNoSteps         = "no_steps"
	IssueTooManySteps    = "too_many_steps"
	IssueInvalid         = "invalid_step"      // a field of the step (Field names it)
	IssueDuplicateID     = "duplicate_id"      // two steps with one ID
	IssueUnknownNext     = "unknown_next"      // Next names no step
	IssueUnknownTarget   = "unknown_target"    // a branch names no step
	IssueUnreachable     = "unreachable"       // no step leads to it
	IssueLoop            = "loop"              // Next leads back to an earlier step
	IssueBranchLoop      = "branch_loop"       // a reply branch goes back (or to itself)
	IssueDayOrder        = "day_order"         // the step is due before the step it follows
	IssueBranchNeverRuns = "branch_never_runs" // a reply rule on the first step (nothing to reply to)
	IssueMissingTemplate = "missing_template"  // may go out after WhatsApp's 24 h window, no template
)

// MaxSteps is the most steps a program may have.
const MaxSteps = 100

// StepIssue is one problem of one step, or of the program when Step is -1.
type StepIssue struct {
	Step     int    `json:"step"`              // index in the steps as given
	StepID   string `json:"step_id,omitempty"` // the step's ID (assigned when it had none)
	Field    string `json:"field,omitempty"`   // e.g. day, at, next, on_reply, content.text
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// GraphContext is what CheckProgram needs to know about the creator beyond the steps.
type GraphContext struct {
	// WhatsAppNeedsTemplate: the creator has a WhatsApp channel without a default template, so a
	// step sent outside the 24-hour window needs a template of its own to reach WhatsApp people.
	WhatsAppNeedsTemplate bool
}

var stepIDRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,39}$`)

// HasErrors reports whether issues hold an error (not only warnings).
func HasErrors(issues []StepIssue) bool {
	for _, is := range issues {
		if is.Severity == SeverityError {
			return true
		}
	}
	return false
}

// CheckProgram checks steps as a graph. Without any Next (an API client's plain list) the steps
// run in the order given; with Next on any step, Next alone links them, from the first step
// given. It returns every issue found and, when none is an error, the steps in the order the
// scheduler runs them, each with its ID and Next set and a "goto" rule as the target's index.
func CheckProgram(steps []Step, gc GraphContext) ([]Step, []StepIssue) {
	var issues []StepIssue
	add := func(i int, id, field, code, sev, format string, args ...any) {
		issues = append(issues, StepIssue{Step: i, StepID: id, Field: field, Code: code, Severity: sev, Message: clip(fmt.Sprintf(format, args...), maxIssueMessage)})
	}
	if len(steps) == 0 {
		add(-1, "", "steps", IssueNoSteps, SeverityError, "A program needs at least one step.")
		return nil, issues
	}
	if len(steps) > MaxSteps {
		add(-1, "", "steps", IssueTooManySteps, SeverityError, "A program has at most %d steps.", MaxSteps)
		return nil, issues
	}
	graph := false
	for _, s := range steps {
		if s.Next != nil {
			graph = true
		}
	}
	// IDs: as given, or assigned (s1, s2, … not already taken) to steps without one.
	ids := make([]string, len(steps))
	byID := map[string]int{}
	for i, s := range steps {
		if s.ID == "" {
			continue
		}
		if !stepIDRE.MatchString(s.ID) {
			add(i, "", "id", IssueInvalid, SeverityError, "A step's id starts with a letter, then letters, digits, - or _ (at most 40).")
			continue
		}
		if j, dup := byID[s.ID]; dup {
			add(i, s.ID, "id", IssueDuplicateID, SeverityError, "Step %d has the same id %q.", j+1, s.ID)
			continue
		}
		ids[i], byID[s.ID] = s.ID, i
	}
	n := 1
	for i := range steps {
		if ids[i] != "" {
			continue
		}
		for ; ; n++ {
			if _, taken := byID["s"+strconv.Itoa(n)]; !taken {
				break
			}
		}
		ids[i] = "s" + strconv.Itoa(n)
		byID[ids[i]] = i
	}
	name := func(i int) string {
		return fmt.Sprintf("step %d (%s)", i+1, ids[i])
	}

	// Each step's own fields.
	for i, s := range steps {
		if s.Day < 0 {
			add(i, ids[i], "day", IssueInvalid, SeverityError, "The day must not be negative.")
		}
		if s.At != "" {
			if _, err := ParseHHMM(s.At); err != nil {
				add(i, ids[i], "at", IssueInvalid, SeverityError, "The time of day is HH:MM, from 00:00 to 23:59.")
			}
		}
		if err := s.Content.Validate(); err != nil {
			field, _, _ := strings.Cut(err.Error(), " ")
			if field = strings.TrimSuffix(field, ":"); !strings.HasPrefix(field, "content") {
				field = "content"
			}
			add(i, ids[i], field, IssueInvalid, SeverityError, "%s", err.Error())
		}
	}

	// Edges: next (by ID, or the following step of a plain list) and reply branches.
	next := make([]int, len(steps)) // -1: the end
	for i, s := range steps {
		next[i] = -1
		switch {
		case !graph:
			if i+1 < len(steps) {
				next[i] = i + 1
			}
		case s.Next != nil && *s.Next != "":
			j, ok := byID[*s.Next]
			if !ok {
				add(i, ids[i], "next", IssueUnknownNext, SeverityError, "The next step %q does not exist.", clip(*s.Next, 40))
			} else {
				next[i] = j
			}
		}
	}
	branch := make([]int, len(steps)) // -1 continue, -2 pause, else the target
	for i, s := range steps {
		branch[i] = -1
		switch {
		case s.OnReply == "" || s.OnReply == "continue":
		case s.OnReply == "pause":
			branch[i] = -2
		case strings.HasPrefix(s.OnReply, "goto:"):
			t := strings.TrimPrefix(s.OnReply, "goto:")
			if k, err := strconv.Atoi(t); err == nil && k >= 0 && k < len(steps) {
				branch[i] = k
			} else if k, ok := byID[t]; ok && err != nil {
				branch[i] = k
			} else {
				add(i, ids[i], "on_reply", IssueUnknownTarget, SeverityError, "The reply branch goes to %q, which is not a step.", clip(t, 40))
			}
		default:
			add(i, ids[i], "on_reply", IssueInvalid, SeverityError, "On a reply: continue, pause or goto:<step>, not %q.", clip(s.OnReply, 40))
		}
	}

	// The main line, from the first step.
	pos := make([]int, len(steps))
	for i := range pos {
		pos[i] = -1
	}
	var order []int
	for cur, prev := 0, -1; cur != -1; prev, cur = cur, next[cur] {
		if pos[cur] >= 0 {
			add(prev, ids[prev], "next", IssueLoop, SeverityError, "This leads back to %s: the steps would go round in a loop. Point it to a later step or end the program here.", name(cur))
			break
		}
		pos[cur] = len(order)
		order = append(order, cur)
	}
	for i := range steps {
		if pos[i] >= 0 {
			continue
		}
		byBranch := false
		for j := range steps {
			if branch[j] == i && j != i {
				byBranch = true
			}
		}
		msg := "Unreachable: no step leads here. Connect the step before it to this one (or delete it)."
		if byBranch {
			msg = "Unreachable on the main line: only a reply branch leads here. Connect the step before it to this one too (every step follows another)."
		}
		add(i, ids[i], "", IssueUnreachable, SeverityError, "%s", msg)
	}
	// Along the main line: days in order, branches forward, templates where the window may close.
	prevDay := 0
	for k, i := range order {
		s := steps[i]
		if k > 0 && s.Day < prevDay {
			add(i, ids[i], "day", IssueDayOrder, SeverityError, "Day %d comes before the step it follows (day %d): a step cannot be due earlier than the one before it.", s.Day, prevDay)
		}
		if t := branch[i]; t >= 0 && pos[t] >= 0 && pos[t] <= k {
			what := "back to " + name(t)
			if t == i {
				what = "to this same step"
			}
			add(i, ids[i], "on_reply", IssueBranchLoop, SeverityError, "The reply branch goes %s: branches can only jump forward, to a later step, or the program would loop.", what)
		} else if k == 0 && branch[i] != -1 {
			add(i, ids[i], "on_reply", IssueBranchNeverRuns, SeverityWarning, "The first step has no message before it to reply to: this reply rule never applies. Set it on the step that follows.")
		}
		if gc.WhatsAppNeedsTemplate && s.Day-prevDay >= 1 && s.Content.Template == nil {
			add(i, ids[i], "content.template", IssueMissingTemplate, SeverityWarning,
				"Sent %d day(s) after the step before, maybe more than 24 h after the person last wrote: WhatsApp then delivers only an approved template. "+
					"Add a template to this step (or a default one to the WhatsApp channel), or WhatsApp people skip it.", s.Day-prevDay)
		}
		prevDay = max(prevDay, s.Day)
	}
	if HasErrors(issues) {
		return nil, issues
	}
	out := make([]Step, len(order))
	for k, i := range order {
		s := steps[i]
		s.ID = ids[i]
		nx := ""
		if k+1 < len(order) {
			nx = ids[order[k+1]]
		}
		s.Next = &nx
		if t := branch[i]; t >= 0 {
			s.OnReply = "goto:" + strconv.Itoa(pos[t])
		}
		out[k] = s
	}
	return out, issues
}

// maxIssueMessage bounds an issue's message (a message may quote what it refuses).
const maxIssueMessage = 400

// clip shortens s to at most n bytes (on a rune boundary), marking the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// WithIDs gives the steps of a program stored before steps had IDs their IDs and Next (the
// stored order is the run order); steps that have them are returned as they are.
func WithIDs(steps []Step) []Step {
	out := make([]Step, len(steps))
	copy(out, steps)
	for i := range out {
		if out[i].ID == "" {
			out[i].ID = "s" + strconv.Itoa(i+1)
		}
	}
	for i := range out {
		if out[i].Next == nil {
			nx := ""
			if i+1 < len(out) {
				nx = out[i+1].ID
			}
			out[i].Next = &nx
		}
	}
	return out
}
