package generate_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coachwire/coachwire/internal/generate"
)

func TestCachedCounter(t *testing.T) {
	var calls atomic.Int64
	count := func(s string) int { calls.Add(1); return len(strings.Fields(s)) }
	c := generate.CachedCounter(count, 2)
	long := strings.Repeat("word ", 20)
	other := strings.Repeat("other text ", 10)
	third := strings.Repeat("third one ", 10)
	first, second := c(long), c(long)
	if first != 20 || second != 20 || calls.Load() != 1 {
		t.Fatalf("a repeated text is counted once: %d calls", calls.Load())
	}
	first, second = c("short text"), c("short text")
	if first != 2 || second != 2 || calls.Load() != 3 {
		t.Fatalf("short texts are counted each time: %d calls", calls.Load())
	}
	if c(other) != 20 || c(third) != 20 || c(long) != 20 {
		t.Fatal("wrong counts after the cache filled")
	}
	if c(long+"x") != 21 {
		t.Fatal("a different text got another's count")
	}
}
