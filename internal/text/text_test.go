package text

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		in     string
		reason string // "" accepted
		line   string // CheckLine's reason
	}{
		{"hello", "", ""},
		{"tab\tnew\nline\r\n", "", "control"},
		{"émoji 👋 中文", "", ""},
		{"\uFFFD is a character", "", ""},
		{"nul\x00", "nul", "nul"},
		{"esc\x1b[31m", "control", "control"},
		{"del\x7f", "control", "control"},
		{"c1\u0085", "control", "control"},
		{"bad\xff", "invalid_utf8", "invalid_utf8"},
		{"cut\xe2\x82", "invalid_utf8", "invalid_utf8"},
		{"surrogate\xed\xa0\x80", "invalid_utf8", "invalid_utf8"},
	} {
		for _, c := range []struct {
			f    func(string) error
			want string
		}{{Check, tc.reason}, {CheckLine, tc.line}} {
			err := c.f(tc.in)
			var te *Error
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%q: %v, want accepted", tc.in, err)
			case c.want != "" && (!errors.As(err, &te) || te.Reason != c.want):
				t.Errorf("%q: %v, want %s", tc.in, err, c.want)
			}
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"fine\ttext\n":       "fine\ttext\n",
		"a\x00b":             "ab",
		"a\x1b[0mb\u0085":    "a[0mb",
		"bad\xffbyte":        "bad\uFFFDbyte",
		"\x00\x01\x02":       "",
		"mixed\x00\xc3(\x7f": "mixed\uFFFD(",
	} {
		got := Sanitize(in)
		if got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
		if !Valid(got) {
			t.Errorf("Sanitize(%q) = %q is not accepted text", in, got)
		}
	}
}
