package proactive

import (
	"slices"
	"strings"

	"github.com/coachwire/coachwire/internal/channels"
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
// (""): one of the default words or of the extra optOut / optIn words (KeywordIn with the
// defaults added).
func Keyword(text string, optOut, optIn []string) string {
	return KeywordIn(text, slices.Concat(DefaultOptOutWords, optOut), slices.Concat(DefaultOptInWords, optIn))
}

// KeywordIn reports whether text is one of the optOut words (OptOut), of the optIn words
// (OptIn) or neither (""), as the whole message, case-insensitively, ignoring surrounding
// space, '.' and '!' and a leading '/' (Telegram commands: /stop, /start). Opt-out wins.
func KeywordIn(text string, optOut, optIn []string) string {
	t := NormalizeWord(text)
	if t == "" || len(t) > 64 {
		return ""
	}
	match := func(words []string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return NormalizeWord(w) == t })
	}
	switch {
	case match(optOut):
		return OptOut
	case match(optIn):
		return OptIn
	}
	return ""
}

// NormalizeWord is a message or an opt word as KeywordIn compares them: trimmed of space and of
// '.' and '!', without a leading '/', upper case.
func NormalizeWord(s string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.Trim(strings.TrimSpace(s), ".!")), "/")
}

// ChannelWords are a channel's opt-out and opt-in words, complete: the lists the creator set
// (cfg.OptOutList / OptInList, PATCH /api/v1/channels/{id}) or, for a channel whose words were
// never edited, the defaults plus its extra words (cfg.OptOutWords / OptInWords), without
// repeats. The lists are fresh copies.
func ChannelWords(cfg channels.Config) (optOut, optIn []string) {
	optOut, optIn = cfg.OptOutList, cfg.OptInList
	if optOut == nil {
		optOut = slices.Concat(DefaultOptOutWords, cfg.OptOutWords)
	}
	if optIn == nil {
		optIn = slices.Concat(DefaultOptInWords, cfg.OptInWords)
	}
	return uniqueWords(optOut), uniqueWords(optIn)
}

// uniqueWords is words normalised (NormalizeWord) and without repeats, in their order.
func uniqueWords(words []string) []string {
	out := make([]string, 0, len(words))
	for _, w := range words {
		if w = NormalizeWord(w); w != "" && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}
