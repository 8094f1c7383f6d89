package conversation

import (
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

func TestLiveMessageDecodesSources(t *testing.T) {
	t.Parallel()
	reply := uuid.New()
	m := db.Message{ID: uuid.New(), Seq: 7, Role: "assistant", Body: "hi", Sources: []byte(`[{"title":"Guide","chunk_id":"c1"}]`)}
	m.ReplyTo.UUID, m.ReplyTo.Valid = reply, true
	l, err := LiveMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	if l.Kind != "message" || l.Seq != 7 || l.Text != "hi" || l.ReplyTo != reply || len(l.Sources) != 1 || l.Sources[0].Title != "Guide" {
		t.Fatalf("live = %+v", l)
	}
	for _, raw := range []string{"", "null"} {
		if ps, err := Sources([]byte(raw)); err != nil || ps != nil {
			t.Errorf("Sources(%q) = %v, %v; want none", raw, ps, err)
		}
	}
	m.Sources = []byte(`{"not":"a list"}`)
	if l, err := LiveMessage(m); err == nil {
		t.Fatalf("corrupt sources decoded without error: %+v", l)
	} else if l.Text != "hi" {
		t.Fatalf("the message's text is kept when its sources are corrupt: %+v", l)
	}
}
