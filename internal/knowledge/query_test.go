package knowledge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/analysis"
)

// storeWithVocab is a Store whose tenant "t" has a cached English vocabulary of text's words.
func storeWithVocab(text string) *Store {
	v := &vocab{words: map[string]bool{}, byGram: map[string][]string{}, byBag: map[string][]string{}, stems: map[string]bool{},
		langs: []analysis.Lang{analysis.English}, loaded: time.Now().Add(time.Hour)}
	for _, w := range analysis.Words(text) {
		if len(w) >= minCorrectLen && !v.words[w] {
			v.words[w] = true
			for _, g := range trigrams(w) {
				v.byGram[g] = append(v.byGram[g], w)
			}
			v.byBag[bag(w)] = append(v.byBag[bag(w)], w)
			v.stems[analysis.Stem(analysis.English, w)] = true
		}
	}
	s := &Store{}
	s.vocabs.m = map[string]*vocab{"t": v}
	return s
}

// count returns how many times term is in the query string q (its weight).
func count(q, term string) int {
	n := 0
	for _, f := range strings.Fields(q) {
		if f == term {
			n++
		}
	}
	return n
}

func TestQueryText(t *testing.T) {
	s := storeWithVocab("Most adults need seven to nine hours of sleep. Tie the laces firmly. Rest between sets, " +
		"count your steps. A coffee late keeps you awake. Strength grows with rest. Sleep without screens. Apply an anti-chafing balm before long races. Support recovery. " +
		"Take carbohydrates every hour. Daytime sleepiness passes.")
	ctx := context.Background()
	for _, c := range []struct {
		q        string
		has      map[string]int // term → weight
		hasNot   []string
		describe string
	}{
		{q: "What amount of shut-eye is healthy for a grown-up?", has: map[string]int{"sleep": weightBroader, "adult": weightRelated, "shut": weightPart, "eye": weightPart},
			describe: "a hyphenated compound is one word: its hypernym and synonyms the documents use are added below the question's words"},
		{q: "How many races?", has: map[string]int{"races": weightOwn}, hasNot: []string{"laces"},
			describe: "an English word is not corrected to a vocabulary word"},
		{q: "How long should I rest between stes?", has: map[string]int{"sets": weightOwn + 1, "steps": weightOwn + 1},
			describe: "a typo takes every equally near correction"},
		{q: "my afternoon espresso", has: map[string]int{"coffee": weightBroader, "espresso": weightOwn + 1},
			describe: "a broader word the documents use is added at the lowest weight"},
		{q: "what helps me recover", has: map[string]int{"recovery": weightRelated},
			describe: "derived forms are related words"},
		{q: "how do I keep going", hasNot: []string{"hold", "support"},
			describe: "a word of many senses brings no synonyms"},
		{q: "How do I keep getting stronger over time?", has: map[string]int{"strength": weightRelated},
			describe: "an adjective's attribute is a related word"},
		{q: "I'm tired and I can't sleep, what's wrong?", hasNot: []string{"m", "t", "s"},
			describe: "a contraction's one letter is no word"},
		{q: "do I always want espresso?", has: map[string]int{"always": weightOwn, "espresso": weightOwn + 1},
			describe: "a common English word weighs less than a rare one of as few senses"},
		{q: "How many carbs per hour?", has: map[string]int{"carbohydrates": weightRelated},
			describe: "a clipped word the documents do not use finds the long words it begins"},
		{q: "How much sleep do adults need?", hasNot: []string{"sleepiness"},
			describe: "a word the documents use is no clipping"},
		{q: "bananas without sugar", has: map[string]int{"without": weightOwn},
			describe: "a word WordNet does not know (a function word, a name) weighs no more than a word of few senses"},
	} {
		got := s.queryText(ctx, "t", c.q)
		for term, w := range c.has {
			if n := count(got, term); n != w {
				t.Errorf("%s: %q → %q: %q %d times, want %d", c.describe, c.q, got, term, n, w)
			}
		}
		for _, term := range c.hasNot {
			if count(got, term) > 0 {
				t.Errorf("%s: %q → %q: has %q", c.describe, c.q, got, term)
			}
		}
	}
}
