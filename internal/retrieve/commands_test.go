package retrieve_test

import (
	"strings"
	"testing"

	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/retrieve"
)

func TestMatchCommand(t *testing.T) {
	for _, tc := range []struct {
		text string
		want retrieve.Command
	}{
		// Show.
		{"/memory", retrieve.ShowMemory},
		{"/MEMORY", retrieve.ShowMemory},
		{"  /memory  ", retrieve.ShowMemory},
		{"/memory@CoachBot", retrieve.ShowMemory},
		{"what do you remember about me", retrieve.ShowMemory},
		{"What do you remember about me?", retrieve.ShowMemory},
		{"WHAT DO YOU REMEMBER ABOUT ME??", retrieve.ShowMemory},
		{"what   do you\tremember about me ?!", retrieve.ShowMemory},
		{"What do you know about me?", retrieve.ShowMemory},
		{"show my memory", retrieve.ShowMemory},
		{"Show my memory, please", retrieve.ShowMemory},
		{"please show me my memory.", retrieve.ShowMemory},
		{"“What do you remember about me?”", retrieve.ShowMemory},

		// Forget.
		{"/forget", retrieve.ForgetMemory},
		{"/Forget@CoachBot", retrieve.ForgetMemory},
		{"forget me", retrieve.ForgetMemory},
		{"Forget me!", retrieve.ForgetMemory},
		{"please forget me", retrieve.ForgetMemory},
		{"Forget everything about me.", retrieve.ForgetMemory},
		{"erase my memory", retrieve.ForgetMemory},
		{"Delete my memory!", retrieve.ForgetMemory},
		{"clear my memory", retrieve.ForgetMemory},

		// Ordinary messages stay with the coach.
		{"", retrieve.NoCommand},
		{"   ", retrieve.NoCommand},
		{"memory", retrieve.NoCommand},
		{"forget", retrieve.NoCommand},
		{"/forget me", retrieve.NoCommand},
		{"/memory please", retrieve.NoCommand},
		{"/start", retrieve.NoCommand},
		{"/", retrieve.NoCommand},
		{"How can I improve my memory?", retrieve.NoCommand},
		{"I keep forgetting my workouts, what do you remember about me and my plan?", retrieve.NoCommand},
		{"Do you remember what I said about sleep?", retrieve.NoCommand},
		{"what do you remember about my goals", retrieve.NoCommand},
		{"don't forget me", retrieve.NoCommand},
		{"Never forget me", retrieve.NoCommand},
		{"forget me not", retrieve.NoCommand},
		{"delete my account", retrieve.NoCommand},
		{"erase my memory of that night", retrieve.NoCommand},
		{"stop", retrieve.NoCommand},
		{strings.Repeat("forget me ", 20), retrieve.NoCommand},
	} {
		if got := retrieve.MatchCommand(tc.text); got != tc.want {
			t.Errorf("MatchCommand(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestProgramKeyword(t *testing.T) {
	for text, want := range map[string]string{
		"START30":                     "START30",
		"  start30 \n":                "start30",
		"Join Sleep":                  "Join Sleep",
		"":                            "",
		"  ":                          "",
		"two\nlines":                  "",
		strings.Repeat("k", 64):       strings.Repeat("k", 64),
		strings.Repeat("k", 65):       "",
		strings.Repeat("é", 64) + " ": strings.Repeat("é", 64),
	} {
		if got := retrieve.ProgramKeyword(text); got != want {
			t.Errorf("ProgramKeyword(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestMemoryAnswer(t *testing.T) {
	if got := retrieve.MemoryAnswer(memory.Profile{}); got != "I don't remember anything about you yet." {
		t.Errorf("empty profile: %q", got)
	}
	if got := retrieve.MemoryAnswer(memory.Profile{Goals: []string{" ", ""}}); got != "I don't remember anything about you yet." {
		t.Errorf("blank items: %q", got)
	}
	got := retrieve.MemoryAnswer(memory.Profile{
		Goals:       []string{"Run a marathon in May"},
		Commitments: []string{"Walk 20 minutes after lunch", "Bed by 23:00"},
		Facts:       []string{"Has two kids"},
	})
	want := "Here's what I remember about you:\n" +
		"\nYour goals:\n- Run a marathon in May\n" +
		"\nYour commitments:\n- Walk 20 minutes after lunch\n- Bed by 23:00\n" +
		"\nAbout you:\n- Has two kids\n" +
		"\nSend /forget if you'd like me to erase it."
	if got != want {
		t.Errorf("MemoryAnswer:\n%s\nwant:\n%s", got, want)
	}
}
