// Package memorytest is a deterministic stand-in for the model's side of memory extraction,
// for tests only: given an extraction request (memory.Prompt) it returns the profile a careful
// model would, from plain statements of the person — "my goal is …", "I prefer …",
// "I commit to …", "I am …" / "I work …" — added to the current profile in the request.
// Use it as ollamatest.Options.JSONReply.
package memorytest

import (
	"encoding/json"
	"strings"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/memory"
)

// Reply is the extraction a model would return for req (an empty profile for any other
// structured request).
func Reply(req ollamatest.ChatRequest) any {
	var p memory.Profile
	if len(req.Messages) < 2 || !strings.Contains(req.Messages[0].Content, "coaching profile") {
		return p.Clean()
	}
	in := req.Messages[len(req.Messages)-1].Content
	if cur, _, ok := strings.Cut(strings.TrimPrefix(in, "Current profile:\n"), "\n"); ok {
		_ = json.Unmarshal([]byte(cur), &p)
	}
	_, convo, _ := strings.Cut(in, "<conversation>\n")
	convo, _, _ = strings.Cut(convo, "</conversation>")
	for _, line := range strings.Split(convo, "\n") {
		said, ok := strings.CutPrefix(line, "person: ")
		if !ok {
			continue // only what the person said about themselves
		}
		for _, sentence := range strings.FieldsFunc(said, func(r rune) bool { return r == '.' || r == '!' || r == '?' }) {
			s := strings.TrimSpace(sentence)
			low := strings.ToLower(s)
			switch {
			case strings.HasPrefix(low, "my goal is to "):
				p.Goals = append(p.Goals, s[len("my goal is to "):])
			case strings.HasPrefix(low, "i prefer "):
				p.Preferences = append(p.Preferences, s[len("i prefer "):])
			case strings.HasPrefix(low, "i commit to "):
				p.Commitments = append(p.Commitments, s[len("i commit to "):])
			case strings.HasPrefix(low, "i am "), strings.HasPrefix(low, "i work "):
				p.Facts = append(p.Facts, s)
			}
		}
	}
	return p.Clean()
}
