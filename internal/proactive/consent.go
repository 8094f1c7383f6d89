package proactive

import (
	"slices"
	"strings"
)

// What an end user's consent keyword means for proactive messages (see Keyword).
const (
	OptOut = "stop"  // stop proactive messages
	OptIn  = "start" // receive them again
)

// Default opt-out and opt-in keywords, matched on the whole message, case-insensitively. Every
// channel understands them; a channel's configuration may add its own words to each list.
var (
	DefaultOptOutWords = []string{"STOP", "UNSUBSCRIBE", "STOPALL", "CANCEL", "END", "QUIT"}
	DefaultOptInWords  = []string{"START", "UNSTOP", "SUBSCRIBE"}
)

// Keyword reports whether text is an opt-out (OptOut) or opt-in (OptIn) keyword, or neither
// (""): one of the default words or of a channel's own optOut / optIn words, as the whole
// message, case-insensitively, ignoring surrounding space, '.' and '!' and a leading '/'
// (Telegram commands: /stop, /start).
func Keyword(text string, optOut, optIn []string) string {
	t := strings.ToUpper(strings.Trim(strings.TrimSpace(text), ".!"))
	t = strings.TrimPrefix(t, "/")
	if t == "" || len(t) > 64 {
		return ""
	}
	match := func(words, defaults []string) bool {
		return slices.Contains(defaults, t) || slices.ContainsFunc(words, func(w string) bool { return strings.ToUpper(strings.TrimSpace(w)) == t })
	}
	switch {
	case match(optOut, DefaultOptOutWords):
		return OptOut
	case match(optIn, DefaultOptInWords):
		return OptIn
	}
	return ""
}
