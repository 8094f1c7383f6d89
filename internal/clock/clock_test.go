package clock

import (
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	t0 := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	var c Clock = f
	if !c.Now().Equal(t0) {
		t.Fatal("fake clock moved on its own")
	}
	if got := f.Advance(90 * time.Minute); !got.Equal(t0.Add(90 * time.Minute)) {
		t.Fatalf("advance: %v", got)
	}
	if Func(nil).Now().IsZero() || Func(func() time.Time { return t0 }).Now() != t0 {
		t.Fatal("Func")
	}
}
