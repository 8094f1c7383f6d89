package proactive

// The creator's send policy as the creator changes it: timezone, quiet hours and caps.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// Bounds of the creator's caps.
const (
	MaxCapDay  = 100
	MaxCapWeek = 700
)

// PolicyChange changes a creator's send policy; a nil field keeps its value. Quiet hours are
// "HH:MM" in the recipient's local time; equal start and end mean no quiet hours, a start after
// the end spans midnight. Caps of 0 leave only the platform ceiling.
type PolicyChange struct {
	Timezone   *string
	QuietStart *string
	QuietEnd   *string
	CapDay     *int
	CapWeek    *int
}

// parseQuietTime reads "HH:MM" (two digits each, 00:00-23:59) as minutes of the day.
func parseQuietTime(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || s[0] == '+' || s[3] == '+' || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

func badPolicy(field, msg string) error {
	return invalid("invalid_policy", field+": "+msg)
}

// Apply validates c and applies it over cur.
func (c PolicyChange) Apply(cur db.GetCreatorPolicyRow) (db.SetCreatorPolicyParams, error) {
	p := db.SetCreatorPolicyParams{ID: cur.ID, Timezone: cur.Timezone, QuietStart: cur.QuietStart, QuietEnd: cur.QuietEnd,
		CapDay: cur.NudgeCapDay, CapWeek: cur.NudgeCapWeek}
	if c.Timezone != nil {
		tz := strings.TrimSpace(*c.Timezone)
		if tz == "" || tz == "Local" {
			return p, badPolicy("timezone", "an IANA time zone name such as Europe/Paris is required")
		}
		if _, err := time.LoadLocation(tz); err != nil {
			return p, badPolicy("timezone", strconv.Quote(tz)+" is not a known IANA time zone name")
		}
		p.Timezone = tz
	}
	for _, f := range []struct {
		name string
		in   *string
		out  *int16
	}{{"quiet_start", c.QuietStart, &p.QuietStart}, {"quiet_end", c.QuietEnd, &p.QuietEnd}} {
		if f.in == nil {
			continue
		}
		m, ok := parseQuietTime(*f.in)
		if !ok {
			return p, badPolicy(f.name, strconv.Quote(*f.in)+" is not a time of day HH:MM (00:00-23:59)")
		}
		*f.out = int16(m)
	}
	for _, f := range []struct {
		name string
		in   *int
		max  int
		out  *int32
	}{{"cap_day", c.CapDay, MaxCapDay, &p.CapDay}, {"cap_week", c.CapWeek, MaxCapWeek, &p.CapWeek}} {
		if f.in == nil {
			continue
		}
		if *f.in < 0 || *f.in > f.max {
			return p, badPolicy(f.name, fmt.Sprintf("must be between 0 (platform ceiling only) and %d", f.max))
		}
		*f.out = int32(*f.in)
	}
	return p, nil
}

// UpdatePolicy applies c to the creator's send policy.
func UpdatePolicy(ctx context.Context, q *db.Queries, creator uuid.UUID, c PolicyChange) (db.SetCreatorPolicyRow, error) {
	cur, err := q.GetCreatorPolicy(ctx, creator)
	if err != nil {
		return db.SetCreatorPolicyRow{}, err
	}
	p, err := c.Apply(cur)
	if err != nil {
		return db.SetCreatorPolicyRow{}, err
	}
	return q.SetCreatorPolicy(ctx, p)
}
