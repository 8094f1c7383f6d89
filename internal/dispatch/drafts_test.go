package dispatch

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
)

func live(t *testing.T, turn uuid.UUID, text string, reset bool) []byte {
	t.Helper()
	b, err := json.Marshal(events.Live{Kind: "delta", Turn: turn, Text: text, Reset: reset})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDraftID(t *testing.T) {
	t.Parallel()
	for range 1000 {
		turn := uuid.Must(uuid.NewV7())
		if id := draftID(turn); id <= 0 || id != draftID(turn) {
			t.Fatalf("draftID(%s) = %d, want a stable positive id", turn, id)
		}
	}
	if draftID(uuid.Nil) != 1 {
		t.Fatal("draftID(nil) must be non-zero")
	}
}

func TestDrafterAccumulates(t *testing.T) {
	t.Parallel()
	d := newDrafter()
	creator, conv, turn := uuid.New(), uuid.New(), uuid.New()
	a := &account{id: uuid.New()}

	// Not owned: ignored.
	d.delta(conv, live(t, turn, "Hello", true))
	if len(d.turns) != 0 {
		t.Fatal("delta of a conversation this replica does not own was kept")
	}
	d.own(creator, conv)
	// Joined mid-turn (no reset): no drafts for the turn.
	d.delta(conv, live(t, turn, "lo", false))
	if len(d.turns) != 0 {
		t.Fatal("a turn without its beginning was started")
	}
	d.delta(conv, live(t, turn, "Hel", true))
	d.delta(conv, live(t, turn, "lo", false))
	if jobs := d.due(time.Now()); len(jobs) != 0 {
		t.Fatal("drafts before the chat is resolved")
	}
	d.resolve(conv, a, 555)
	jobs := d.due(time.Now())
	if len(jobs) != 1 || jobs[0].text != "Hello" || jobs[0].chat != 555 {
		t.Fatalf("jobs = %+v", jobs)
	}
	if again := d.due(time.Now()); len(again) != 0 {
		t.Fatal("a second draft while one is in flight")
	}
	d.delta(conv, live(t, turn, " world", false))
	d.flushed(jobs[0], true, false)
	jobs = d.due(time.Now())
	if len(jobs) != 1 || jobs[0].text != "Hello world" {
		t.Fatalf("jobs = %+v", jobs)
	}
	// Reset replaces the text (a model failure's apology).
	d.delta(conv, live(t, turn, "Sorry", true))
	// finish waits for the draft in flight, then the turn is gone.
	done := make(chan struct{})
	go func() { d.finish(context.Background(), turn); close(done) }()
	select {
	case <-done:
		t.Fatal("finish returned with a draft in flight")
	case <-time.After(50 * time.Millisecond):
	}
	d.flushed(jobs[0], true, false)
	<-done
	if jobs := d.due(time.Now()); len(jobs) != 0 {
		t.Fatalf("drafts after finish: %+v", jobs)
	}
}

func TestDrafterDisabledChat(t *testing.T) {
	t.Parallel()
	d := newDrafter()
	creator, conv, turn := uuid.New(), uuid.New(), uuid.New()
	a := &account{id: uuid.New()}
	d.own(creator, conv)
	d.resolve(conv, a, 555)
	d.delta(conv, live(t, turn, "Hi there", true))
	jobs := d.due(time.Now())
	if len(jobs) != 1 {
		t.Fatalf("jobs = %+v", jobs)
	}
	d.flushed(jobs[0], false, true) // refused: drafts off for the chat
	d.delta(conv, live(t, turn, " more", false))
	if jobs := d.due(time.Now()); len(jobs) != 0 {
		t.Fatal("drafts after the chat refused them")
	}
	// The next turn in the same chat is not tried either.
	d.own(creator, conv)
	d.resolve(conv, a, 555)
	d.delta(conv, live(t, uuid.New(), "Next", true))
	if jobs := d.due(time.Now()); len(jobs) != 0 {
		t.Fatal("drafts for a chat that refused them within the hour")
	}
	// Group chats (chat is not the user: resolved as 0) get none.
	g := uuid.New()
	d.own(creator, g)
	d.resolve(g, a, 0)
	d.delta(g, live(t, uuid.New(), "Group", true))
	if jobs := d.due(time.Now()); len(jobs) != 0 {
		t.Fatal("drafts in a group chat")
	}
}
