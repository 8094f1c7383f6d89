package proactive

// Decoders of the generated rows whose JSON columns hold proactive values, for the creator API:
// a column that does not decode is an error, never an empty value. (The scheduler and the
// decision path decode the one column they need where they read it, also with the error
// checked: nudge's enrollment.go, scheduler.go, worker.go; campaign.go and program.go here.)

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// CampaignSpec is what a creator defines of a campaign.
type CampaignSpec struct {
	Name     string
	Audience Audience
	Content  Content
	Schedule Schedule
}

// Campaign is a campaign row with its JSON columns decoded.
type Campaign struct {
	CampaignSpec
	ID        uuid.UUID
	Status    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CampaignOf decodes a campaign row.
func CampaignOf(c db.Campaign) (Campaign, error) {
	out := Campaign{CampaignSpec: CampaignSpec{Name: c.Name}, ID: c.ID, Status: c.Status, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	for _, col := range []struct {
		name string
		raw  []byte
		dst  any
	}{{"audience", c.Audience, &out.Audience}, {"content", c.Content, &out.Content}, {"schedule", c.Schedule, &out.Schedule}} {
		if err := json.Unmarshal(col.raw, col.dst); err != nil {
			return out, fmt.Errorf("proactive: campaign %s %s: %w", c.ID, col.name, err)
		}
	}
	return out, nil
}

// columns encodes a spec's JSON columns.
func (s CampaignSpec) columns() (audience, content, schedule []byte, err error) {
	if audience, err = json.Marshal(s.Audience); err != nil {
		return nil, nil, nil, err
	}
	if content, err = json.Marshal(s.Content); err != nil {
		return nil, nil, nil, err
	}
	schedule, err = json.Marshal(s.Schedule)
	return audience, content, schedule, err
}

// ProgramSpec is what a creator defines of a program.
type ProgramSpec struct {
	Name    string
	Keyword string
	Steps   []Step
	// Layout is the builder's node positions as JSON (nil: none given; an edit keeps the old).
	Layout []byte
}

// Program is a program row with its steps decoded.
type Program struct {
	ProgramSpec
	ID        uuid.UUID
	Status    string
	CreatedAt time.Time
}

// ProgramOf decodes a program row.
func ProgramOf(p db.Program) (Program, error) {
	out := Program{ProgramSpec: ProgramSpec{Name: p.Name, Keyword: p.Keyword}, ID: p.ID, Status: p.Status, CreatedAt: p.CreatedAt}
	if err := json.Unmarshal(p.Steps, &out.Steps); err != nil {
		return out, fmt.Errorf("proactive: program %s steps: %w", p.ID, err)
	}
	return out, nil
}
