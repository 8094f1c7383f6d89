// Package proactive holds the rules of proactive coaching, shared by the roles that need them
// (the gateway's campaign and program API, retrieve's program keywords, the nudge target):
// campaign schedules and their occurrences, audiences, content and templates, the one
// send-policy engine that decides every proactive send, and drip programs (steps, enrollment,
// pause and resume). It imports no bus: the nudge role runs these rules on its scheduler and
// workers.
//
// Schedules are computed as pure functions of a wall clock and a named IANA timezone: a
// recurring rule produces local wall times, and each is resolved to an instant by Resolve, which
// moves a time in a DST gap to the first valid instant after it and takes the first of two
// instants in a DST overlap (so a fall-back day never fires twice).
package proactive

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/teambition/rrule-go"
)

// Schedule kinds.
const (
	ScheduleOnce  = "once"  // At, an instant
	ScheduleRRule = "rrule" // RRule from Start (local wall time) in Timezone
	ScheduleCron  = "cron"  // Cron (5 fields) in Timezone
	ScheduleLocal = "local" // LocalTime on Start's date (and each date of RRule) in each recipient's timezone
)

// Schedule says when a campaign fires. It is stored as JSON on the campaign.
type Schedule struct {
	Kind string `json:"kind"`
	// At is the instant of a one-off campaign (RFC 3339 with offset).
	At *time.Time `json:"at,omitempty"`
	// Timezone is an IANA name (Europe/Paris) for rrule and cron schedules.
	Timezone string `json:"timezone,omitempty"`
	// Start is the local wall time the rule starts from: "2026-03-01T09:00" (rrule), or the
	// first local date "2026-03-01" (local).
	Start string `json:"start,omitempty"`
	// RRule is an RFC 5545 recurrence rule without DTSTART ("FREQ=WEEKLY;BYDAY=MO,TH"); for
	// local schedules it picks the dates (FREQ=DAILY;COUNT=30).
	RRule string `json:"rrule,omitempty"`
	// Cron is a standard 5-field expression ("0 9 * * 1-5").
	Cron string `json:"cron,omitempty"`
	// LocalTime is "HH:MM" in each recipient's own timezone (local schedules).
	LocalTime string `json:"local_time,omitempty"`
}

// Occurrence is one firing of a schedule. At is when it becomes due; for local schedules it is
// the first moment the local time is reached anywhere on Earth (UTC+14), and each recipient's
// own instant is LocalInstant(LocalDate, LocalTime, their zone).
type Occurrence struct {
	At        time.Time
	LocalDate string // YYYY-MM-DD, local schedules only
	LocalTime string // HH:MM, local schedules only
}

// earliestOffset is the easternmost UTC offset in use (Line Islands, UTC+14).
const earliestOffset = 14 * time.Hour

const (
	wallLayout = "2006-01-02T15:04"
	DateLayout = "2006-01-02"
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Validate checks the schedule can be computed.
func (s Schedule) Validate() error {
	switch s.Kind {
	case ScheduleOnce:
		if s.At == nil {
			return errors.New("schedule.at is required for a one-off schedule")
		}
	case ScheduleRRule:
		if _, err := LoadZone(s.Timezone); err != nil {
			return err
		}
		if _, err := time.Parse(wallLayout, s.Start); err != nil {
			return fmt.Errorf("schedule.start %q: want local wall time YYYY-MM-DDTHH:MM", s.Start)
		}
		if _, err := s.rule(); err != nil {
			return err
		}
	case ScheduleCron:
		if _, err := LoadZone(s.Timezone); err != nil {
			return err
		}
		if strings.Contains(s.Cron, "TZ=") {
			return errors.New("schedule.cron: give the zone in schedule.timezone, not CRON_TZ")
		}
		if _, err := cronParser.Parse(s.Cron); err != nil {
			return fmt.Errorf("schedule.cron %q: %v", s.Cron, err)
		}
	case ScheduleLocal:
		if _, err := time.Parse(DateLayout, s.Start); err != nil {
			return fmt.Errorf("schedule.start %q: want the first local date YYYY-MM-DD", s.Start)
		}
		if _, err := ParseHHMM(s.LocalTime); err != nil {
			return err
		}
		if s.RRule != "" {
			if _, err := s.rule(); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("schedule.kind %q: want once, rrule, cron or local", s.Kind)
	}
	return nil
}

func (s Schedule) rule() (*rrule.RRule, error) {
	opt, err := rrule.StrToROption(strings.TrimPrefix(s.RRule, "RRULE:"))
	if err != nil {
		return nil, fmt.Errorf("schedule.rrule %q: %v", s.RRule, err)
	}
	if strings.Contains(strings.ToUpper(s.RRule), "DTSTART") {
		return nil, errors.New("schedule.rrule: give the start in schedule.start, not DTSTART")
	}
	var start time.Time
	if s.Kind == ScheduleLocal {
		start, err = time.Parse(DateLayout, s.Start)
	} else {
		start, err = time.Parse(wallLayout, s.Start)
	}
	if err != nil {
		return nil, err
	}
	opt.Dtstart = start // floating: wall time carried in UTC
	return rrule.NewRRule(*opt)
}

// LoadZone loads an IANA zone; "" is refused (callers decide their default).
func LoadZone(name string) (*time.Location, error) {
	if name == "" {
		return nil, errors.New("timezone is required (an IANA name such as Europe/Paris)")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: not an IANA zone name", name)
	}
	return loc, nil
}

// ParseHHMM parses "HH:MM" into minutes of the day.
func ParseHHMM(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Next returns the first occurrence strictly after after, or false when the schedule is over.
func (s Schedule) Next(after time.Time) (Occurrence, bool) {
	switch s.Kind {
	case ScheduleOnce:
		// Postgres keeps microseconds: compare at that precision so a stored occurrence is
		// recognised as this one.
		if s.At != nil && s.At.Truncate(time.Microsecond).After(after) {
			return Occurrence{At: s.At.Truncate(time.Microsecond).UTC()}, true
		}
	case ScheduleRRule:
		loc, err := LoadZone(s.Timezone)
		if err != nil {
			return Occurrence{}, false
		}
		r, err := s.rule()
		if err != nil {
			return Occurrence{}, false
		}
		return nextWall(after, loc, func(f time.Time) time.Time { return r.After(f, false) })
	case ScheduleCron:
		loc, err := LoadZone(s.Timezone)
		if err != nil {
			return Occurrence{}, false
		}
		c, err := cronParser.Parse(s.Cron)
		if err != nil {
			return Occurrence{}, false
		}
		return nextWall(after, loc, c.Next)
	case ScheduleLocal:
		mins, err := ParseHHMM(s.LocalTime)
		if err != nil {
			return Occurrence{}, false
		}
		first, err := time.Parse(DateLayout, s.Start)
		if err != nil {
			return Occurrence{}, false
		}
		at := func(day time.Time) time.Time { return day.Add(time.Duration(mins)*time.Minute - earliestOffset) }
		occ := func(day time.Time) Occurrence {
			return Occurrence{At: at(day), LocalDate: day.Format(DateLayout), LocalTime: s.LocalTime}
		}
		if s.RRule == "" {
			if at(first).After(after) {
				return occ(first), true
			}
			return Occurrence{}, false
		}
		r, err := s.rule()
		if err != nil {
			return Occurrence{}, false
		}
		// The date whose earliest instant is after `after`.
		from := after.Add(earliestOffset - time.Duration(mins)*time.Minute).UTC().Truncate(24 * time.Hour)
		for day := r.After(from.Add(-time.Nanosecond), true); !day.IsZero(); day = r.After(day, false) {
			if at(day).After(after) {
				return occ(day), true
			}
		}
	}
	return Occurrence{}, false
}

// nextWall steps a floating-wall-time generator until its resolved instant is after after.
// Resolved instants are strictly increasing even when two wall times resolve to one instant
// (a DST gap): the later duplicates are skipped.
func nextWall(after time.Time, loc *time.Location, next func(time.Time) time.Time) (Occurrence, bool) {
	// Start a few hours early in floating time: offsets change by at most a few hours.
	f := floating(after.In(loc)).Add(-4 * time.Hour)
	for range 100000 {
		f = next(f)
		if f.IsZero() {
			return Occurrence{}, false
		}
		if at := Resolve(f, loc); at.After(after) {
			return Occurrence{At: at.UTC()}, true
		}
	}
	return Occurrence{}, false
}

// floating carries t's wall clock in UTC.
func floating(t time.Time) time.Time {
	y, m, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, m, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// Resolve turns a wall time (its fields read as local to loc) into an instant: a wall time in a
// DST gap ("02:30" on a spring-forward day) becomes the first valid instant after the gap; a wall
// time that happens twice (fall back) becomes the first of the two.
func Resolve(wall time.Time, loc *time.Location) time.Time {
	y, m, d := wall.Date()
	h, mi, s := wall.Clock()
	t := time.Date(y, m, d, h, mi, s, wall.Nanosecond(), loc)
	if th, tm, ts := t.Clock(); th != h || tm != mi || ts != s || t.Day() != d {
		// The gap ends at the zone transition next to t (Go normalises a gap time to either side).
		start, end := t.ZoneBounds()
		if !end.IsZero() && end.After(t) && end.Sub(t) <= 3*time.Hour {
			return end
		}
		return start
	}
	// An earlier instant with the same wall clock exists inside a fall-back overlap.
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		e := t.Add(-back)
		if eh, em, es := e.Clock(); eh == h && em == mi && es == s && e.Day() == d {
			return e
		}
	}
	return t
}

// LocalInstant is the instant of "HH:MM on date" in loc (Resolve's DST rules).
func LocalInstant(date, hhmm string, loc *time.Location) (time.Time, error) {
	day, err := time.Parse(DateLayout, date)
	if err != nil {
		return time.Time{}, err
	}
	mins, err := ParseHHMM(hhmm)
	if err != nil {
		return time.Time{}, err
	}
	return Resolve(day.Add(time.Duration(mins)*time.Minute), loc).UTC(), nil
}

// intervalChecks is how many consecutive occurrences CheckInterval looks at: enough to cover
// every list a rule can hold (BYSECOND/BYMINUTE/BYHOUR expand to at most 60 values per
// period, cron fields likewise), so a short gap anywhere in a rule's pattern shows up.
const intervalChecks = 500

// CheckInterval refuses a recurring schedule whose occurrences after now come closer together
// than min (FREQ=SECONDLY, "* * * * *", BYMINUTE=0,30 with min 1 h): it steps through the
// first occurrences and names the rule and the first pair that is too close. One-off
// schedules pass; min <= 0 disables the check.
func (s Schedule) CheckInterval(min time.Duration, now time.Time) error {
	if min <= 0 || s.Kind == ScheduleOnce {
		return nil
	}
	prev, ok := s.Next(now)
	if !ok {
		return nil
	}
	for range intervalChecks {
		o, ok := s.Next(prev.At)
		if !ok {
			return nil
		}
		if gap := o.At.Sub(prev.At); gap < min {
			field, rule := "schedule.rrule", s.RRule
			if s.Kind == ScheduleCron {
				field, rule = "schedule.cron", s.Cron
			}
			return fmt.Errorf("%s %q: occurrences %s apart (%s and %s); the minimum interval between occurrences is %s",
				field, rule, gap, prev.At.UTC().Format(time.RFC3339), o.At.UTC().Format(time.RFC3339), min)
		}
		prev = o
	}
	return nil
}
