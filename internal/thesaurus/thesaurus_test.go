package thesaurus

import (
	"slices"
	"testing"
)

func TestRelated(t *testing.T) {
	for _, c := range []struct{ w, want string }{
		{"shuteye", "sleep"}, {"grownup", "adult"}, {"recover", "recovery"}, {"espresso", "coffee"},
		{"nights", "night"}, {"rubbing", "chafe"}, {"quietly", "quiet"}, {"children", "child"},
		{"stronger", "strength"}, {"fast", "speed"}, {"length", "long"},
	} {
		near, broader := Related(c.w)
		if !slices.Contains(near, c.want) && !slices.Contains(broader, c.want) {
			t.Errorf("Related(%q) = %v, %v: no %q", c.w, near, broader, c.want)
		}
	}
}

func TestKnown(t *testing.T) {
	for _, w := range []string{"races", "nights", "turning", "might", "plate", "tell", "stronger", "bothered"} {
		if !Known(w) {
			t.Errorf("Known(%q) = false", w)
		}
	}
	for _, w := range []string{"marathn", "chafng", "stes", "alwyas", "leftovrs", "xyzzy"} {
		if Known(w) {
			t.Errorf("Known(%q) = true: %v", w, Lemmas(w))
		}
	}
}

func TestTagged(t *testing.T) {
	if m, s, c := Tagged("many"), Tagged("sleeping"), Tagged("chafing"); !(m > s && s > c && c < 10) {
		t.Errorf("Tagged: many %d, sleeping %d, chafing %d: want many > sleeping > chafing, chafing < 10", m, s, c)
	}
	if Tagged("xyzzy") != 0 {
		t.Errorf("Tagged(xyzzy) = %d", Tagged("xyzzy"))
	}
}
