package knowledge

import "testing"

// TestRerankBodyOverHeading: a passage whose heading holds two of the question's words and whose
// text holds none goes below one whose text holds three, though the search scored it higher
// (by a margin that coverage with the heading alone would not overturn).
func TestRerankBodyOverHeading(t *testing.T) {
	ps := []Passage{
		{Heading: "Long runs", Text: "Once a week, build endurance slowly: keep the effort easy.", Score: 1.0},
		{Heading: "Blisters and chafing", Text: "Thighs rubbing raw: apply anti-chafe balm before the start.", Score: 0.72},
		{Heading: "Tapering", Text: "Cut volume in the last two weeks before a race.", Score: 0.8},
	}
	rerank("How do I stop my thighs rubbing raw on long runs?", nil, ps)
	if ps[0].Heading != "Blisters and chafing" {
		t.Fatalf("first %q, want %q", ps[0].Heading, "Blisters and chafing")
	}
}
