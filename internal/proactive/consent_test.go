package proactive

import "testing"

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
