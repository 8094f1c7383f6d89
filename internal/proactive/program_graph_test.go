package proactive

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func gstep(id, next string, day int, onReply string) Step {
	s := Step{ID: id, Day: day, OnReply: onReply, Content: Content{Kind: ContentText, Text: "hello " + id}}
	if next != "-" {
		s.Next = &next
	}
	return s
}

// codes lists the issues as "stepID:code".
func codes(issues []StepIssue) []string {
	out := []string{}
	for _, is := range issues {
		out = append(out, is.StepID+":"+is.Code)
	}
	return out
}

// TestCheckProgramGraph: the builder's graph is checked as a whole, every issue on its step;
// a good graph comes back in run order with its branches as indexes.
func TestCheckProgramGraph(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		steps []Step
		gc    GraphContext
		want  []string
	}{
		{"no steps", nil, GraphContext{}, []string{":no_steps"}},
		{"unreachable", []Step{gstep("a", "b", 0, ""), gstep("b", "", 1, ""), gstep("c", "", 2, "")}, GraphContext{}, []string{"c:unreachable"}},
		{"only a branch leads there", []Step{gstep("a", "b", 0, ""), gstep("b", "", 1, "goto:c"), gstep("c", "", 2, "")}, GraphContext{}, []string{"c:unreachable"}},
		{"next loops back", []Step{gstep("a", "b", 0, ""), gstep("b", "c", 1, ""), gstep("c", "a", 2, "")}, GraphContext{}, []string{"c:loop"}},
		{"next to itself", []Step{gstep("a", "a", 0, "")}, GraphContext{}, []string{"a:loop"}},
		{"branch back", []Step{gstep("a", "b", 0, ""), gstep("b", "c", 1, ""), gstep("c", "", 2, "goto:b")}, GraphContext{}, []string{"c:branch_loop"}},
		{"branch to itself", []Step{gstep("a", "b", 0, ""), gstep("b", "", 1, "goto:b")}, GraphContext{}, []string{"b:branch_loop"}},
		{"unknown next and target", []Step{gstep("a", "zz", 0, ""), gstep("b", "", 1, "goto:yy")}, GraphContext{},
			[]string{"a:unknown_next", "b:unknown_target", "b:unreachable"}},
		{"days out of order", []Step{gstep("a", "b", 3, ""), gstep("b", "", 1, "")}, GraphContext{}, []string{"b:day_order"}},
		{"duplicate id", []Step{gstep("a", "", 0, ""), gstep("a", "", 1, "")}, GraphContext{}, []string{"a:duplicate_id", "s1:unreachable"}},
		{"bad fields", []Step{{ID: "a", Next: new(string), Day: -1, At: "25:00", OnReply: "jump", Content: Content{Kind: ContentText}}}, GraphContext{},
			[]string{"a:invalid_step", "a:invalid_step", "a:invalid_step", "a:invalid_step"}},
		{"template warnings", []Step{gstep("a", "b", 0, ""), gstep("b", "c", 0, ""), gstep("c", "", 2, "")}, GraphContext{WhatsAppNeedsTemplate: true},
			[]string{"c:missing_template"}},
		{"no warning without a WhatsApp channel lacking a template", []Step{gstep("a", "b", 0, ""), gstep("b", "", 2, "")}, GraphContext{}, []string{}},
		{"reply rule on the first step", []Step{gstep("a", "b", 0, "pause"), gstep("b", "", 1, "")}, GraphContext{}, []string{"a:branch_never_runs"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, issues := CheckProgram(c.steps, c.gc)
			require.ElementsMatch(t, c.want, codes(issues), "%+v", issues)
			for _, is := range issues {
				require.NotEmpty(t, is.Message)
				if is.Code == IssueMissingTemplate || is.Code == IssueBranchNeverRuns {
					require.Equal(t, SeverityWarning, is.Severity)
				} else {
					require.Equal(t, SeverityError, is.Severity)
				}
			}
		})
	}

	// A graph given out of order: run order from the first step given, branches by id become
	// indexes in that order.
	t.Run("run order", func(t *testing.T) {
		in := []Step{gstep("welcome", "check", 0, ""), gstep("done", "", 3, ""), gstep("check", "nudge", 1, ""), gstep("nudge", "done", 2, "goto:done")}
		out, issues := CheckProgram(in, GraphContext{})
		require.Empty(t, issues)
		ids := []string{}
		for _, s := range out {
			ids = append(ids, s.ID+">"+*s.Next)
		}
		require.Equal(t, []string{"welcome>check", "check>nudge", "nudge>done", "done>"}, ids)
		require.Equal(t, "goto:3", out[2].OnReply)
		// What is stored passes the scheduler's own rules, and checks again to itself.
		require.NoError(t, ValidateSteps(out))
		again, issues := CheckProgram(out, GraphContext{})
		require.Empty(t, issues)
		require.Equal(t, out, again)
	})

	// A plain list (no ids, no next): the order given, ids assigned, goto:N kept.
	t.Run("plain list", func(t *testing.T) {
		in := []Step{gstep("", "-", 0, ""), gstep("", "-", 1, "goto:2"), gstep("", "-", 2, "")}
		out, issues := CheckProgram(in, GraphContext{})
		require.Empty(t, issues)
		require.Equal(t, "s1", out[0].ID)
		require.Equal(t, "s2", *out[0].Next)
		require.Equal(t, "", *out[2].Next)
		require.Equal(t, "goto:2", out[1].OnReply)
		_, issues = CheckProgram([]Step{gstep("", "-", 0, ""), gstep("", "-", 1, "goto:0")}, GraphContext{})
		require.Equal(t, []string{"s2:branch_loop"}, codes(issues))
	})
}
