package proactive

import (
	"fmt"
	"testing"

	"github.com/coachwire/coachwire/internal/channels"
)

func TestKeyword(t *testing.T) {
	for _, tc := range []struct {
		text          string
		optOut, optIn []string
		want          string
	}{
		{"STOP", nil, nil, OptOut},
		{"  stop! ", nil, nil, OptOut},
		{"/stop", nil, nil, OptOut},
		{"Unsubscribe.", nil, nil, OptOut},
		{"quit", nil, nil, OptOut},
		{"START", nil, nil, OptIn},
		{"/start", nil, nil, OptIn},
		{"unstop", nil, nil, OptIn},
		{"please stop", nil, nil, ""},
		{"", nil, nil, ""},
		{"/", nil, nil, ""},
		{"basta", nil, nil, ""},
		{"Basta", []string{" basta "}, nil, OptOut},
		{"ciao", nil, []string{"CIAO"}, OptIn},
		{"basta", nil, []string{"basta"}, OptIn},
		{"stop", nil, []string{"stop"}, OptOut}, // opt-out wins over a channel's opt-in word
		{string(make([]byte, 65)), nil, nil, ""},
	} {
		if got := Keyword(tc.text, tc.optOut, tc.optIn); got != tc.want {
			t.Errorf("Keyword(%q, %q, %q) = %q, want %q", tc.text, tc.optOut, tc.optIn, got, tc.want)
		}
	}
}

// TestChannelWords: a channel whose words were never edited has the defaults plus its extra
// words (once each); edited lists replace them, so a removed default no longer matches.
func TestChannelWords(t *testing.T) {
	out, in := ChannelWords(channels.Config{OptOutWords: []string{"basta", "STOP"}, OptInWords: []string{" ciao "}})
	if got := fmt.Sprint(out, in); got != "[STOP UNSUBSCRIBE STOPALL CANCEL END QUIT BASTA] [START UNSTOP SUBSCRIBE CIAO]" {
		t.Errorf("legacy words: %s", got)
	}
	cfg := channels.Config{OptOutList: []string{"STOP", "HALT"}, OptInList: []string{"WEITER"}, OptOutWords: []string{"ignored"}}
	out, in = ChannelWords(cfg)
	if got := fmt.Sprint(out, in); got != "[STOP HALT] [WEITER]" {
		t.Errorf("edited words: %s", got)
	}
	for text, want := range map[string]string{"halt!": OptOut, "/stop": OptOut, "cancel": "", "ignored": "", "weiter": OptIn, "start": ""} {
		if got := KeywordIn(text, out, in); got != want {
			t.Errorf("KeywordIn(%q) = %q, want %q", text, got, want)
		}
	}
}
