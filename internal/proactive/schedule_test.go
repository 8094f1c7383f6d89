package proactive

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// occurrences lists n occurrences after from.
func occurrences(t *testing.T, s Schedule, from time.Time, n int) []time.Time {
	t.Helper()
	require.NoError(t, s.Validate())
	var out []time.Time
	for len(out) < n {
		o, ok := s.Next(from)
		if !ok {
			break
		}
		out = append(out, o.At)
		from = o.At
	}
	return out
}

func TestResolveDST(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	// Spring forward 2026-03-08: 02:00-03:00 does not exist → 03:00 EDT (07:00 UTC).
	got := Resolve(time.Date(2026, 3, 8, 2, 30, 0, 0, time.UTC), ny)
	require.Equal(t, time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), got.UTC())
	// Fall back 2026-11-01: 01:30 happens twice → the first (EDT, 05:30 UTC).
	got = Resolve(time.Date(2026, 11, 1, 1, 30, 0, 0, time.UTC), ny)
	require.Equal(t, time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), got.UTC())
	// Lord Howe's half-hour DST: 2026-10-04 02:00 → 02:30 local does not exist.
	lh := mustZone(t, "Australia/Lord_Howe")
	got = Resolve(time.Date(2026, 10, 4, 2, 15, 0, 0, time.UTC), lh)
	h, m, _ := got.In(lh).Clock()
	require.Equal(t, [2]int{2, 30}, [2]int{h, m})
}

func TestScheduleDailyAcrossDST(t *testing.T) {
	for _, s := range []Schedule{
		{Kind: ScheduleRRule, Timezone: "America/New_York", Start: "2026-03-06T02:30", RRule: "FREQ=DAILY"},
		{Kind: ScheduleCron, Timezone: "America/New_York", Cron: "30 2 * * *"},
	} {
		t.Run(s.Kind, func(t *testing.T) {
			got := occurrences(t, s, time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC), 4)
			require.Equal(t, []time.Time{
				time.Date(2026, 3, 6, 7, 30, 0, 0, time.UTC), // 02:30 EST
				time.Date(2026, 3, 7, 7, 30, 0, 0, time.UTC),
				time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC),  // gap: 03:00 EDT, the next valid time
				time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC), // 02:30 EDT
			}, got)
		})
	}
}

func TestScheduleFallBackNoDoubleSend(t *testing.T) {
	for _, s := range []Schedule{
		{Kind: ScheduleRRule, Timezone: "America/New_York", Start: "2026-10-30T01:30", RRule: "FREQ=DAILY"},
		{Kind: ScheduleCron, Timezone: "America/New_York", Cron: "30 1 * * *"},
	} {
		t.Run(s.Kind, func(t *testing.T) {
			got := occurrences(t, s, time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), 3)
			require.Equal(t, []time.Time{
				time.Date(2026, 10, 31, 5, 30, 0, 0, time.UTC),
				time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), // the first 01:30 only
				time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC), // 01:30 EST
			}, got)
		})
	}
	// Hourly through the repeated hour: every wall time once, instants strictly increasing.
	s := Schedule{Kind: ScheduleCron, Timezone: "America/New_York", Cron: "0 * * * *"}
	got := occurrences(t, s, time.Date(2026, 11, 1, 3, 30, 0, 0, time.UTC), 4) // 23:30 EDT
	require.Equal(t, []time.Time{
		time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC), // 00:00 EDT
		time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC), // 01:00 EDT (not again at 01:00 EST)
		time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC), // 02:00 EST
		time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
	}, got)
}

func TestScheduleLocalAcrossDateLine(t *testing.T) {
	s := Schedule{Kind: ScheduleLocal, Start: "2026-06-01", LocalTime: "09:00", RRule: "FREQ=DAILY;COUNT=2"}
	require.NoError(t, s.Validate())
	o, ok := s.Next(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	require.True(t, ok)
	require.Equal(t, "2026-06-01", o.LocalDate)
	// Due when 09:00 is first reached anywhere: Kiritimati (UTC+14) at 19:00 UTC the day before.
	require.Equal(t, time.Date(2026, 5, 31, 19, 0, 0, 0, time.UTC), o.At)
	kir, err := LocalInstant(o.LocalDate, o.LocalTime, mustZone(t, "Pacific/Kiritimati"))
	require.NoError(t, err)
	pago, err := LocalInstant(o.LocalDate, o.LocalTime, mustZone(t, "Pacific/Pago_Pago"))
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 5, 31, 19, 0, 0, 0, time.UTC), kir)
	require.Equal(t, time.Date(2026, 6, 1, 20, 0, 0, 0, time.UTC), pago) // 25 h later, same local date
	o2, ok := s.Next(o.At)
	require.True(t, ok)
	require.Equal(t, "2026-06-02", o2.LocalDate)
	_, ok = s.Next(o2.At)
	require.False(t, ok, "COUNT=2")
	// A one-off local schedule.
	one := Schedule{Kind: ScheduleLocal, Start: "2026-06-01", LocalTime: "09:00"}
	_, ok = one.Next(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	require.False(t, ok, "already due before")
}

func TestScheduleOnceAndValidate(t *testing.T) {
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	s := Schedule{Kind: ScheduleOnce, At: &at}
	require.Equal(t, []time.Time{at}, occurrences(t, s, at.Add(-time.Hour), 5))
	for _, bad := range []Schedule{
		{Kind: "weekly"}, {Kind: ScheduleOnce},
		{Kind: ScheduleCron, Timezone: "Mars/Olympus", Cron: "0 9 * * *"},
		{Kind: ScheduleCron, Timezone: "UTC", Cron: "61 9 * * *"},
		{Kind: ScheduleRRule, Timezone: "UTC", Start: "2026-01-01T09:00", RRule: "FREQ=SOMETIMES"},
		{Kind: ScheduleLocal, Start: "2026-01-01", LocalTime: "25:00"},
	} {
		require.Error(t, bad.Validate(), "%+v", bad)
	}
}

// TestScheduleMinInterval: recurring schedules whose occurrences come closer than the minimum
// interval are refused, naming the rule; hourly and daily rules pass at a 1 h minimum.
func TestScheduleMinInterval(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		s      Schedule
		tooOft string // "" when allowed
	}{
		{Schedule{Kind: ScheduleRRule, Timezone: "UTC", Start: "2026-06-01T09:00", RRule: "FREQ=SECONDLY;COUNT=5"}, "FREQ=SECONDLY;COUNT=5"},
		{Schedule{Kind: ScheduleRRule, Timezone: "UTC", Start: "2026-06-01T09:00", RRule: "FREQ=MINUTELY;INTERVAL=59"}, "FREQ=MINUTELY;INTERVAL=59"},
		{Schedule{Kind: ScheduleRRule, Timezone: "UTC", Start: "2026-06-01T09:00", RRule: "FREQ=DAILY;BYHOUR=9;BYMINUTE=0,30"}, "BYMINUTE=0,30"},
		{Schedule{Kind: ScheduleRRule, Timezone: "UTC", Start: "2026-06-01T09:00", RRule: "FREQ=DAILY;BYSECOND=0,1"}, "BYSECOND=0,1"},
		{Schedule{Kind: ScheduleRRule, Timezone: "UTC", Start: "2026-06-01T09:00", RRule: "FREQ=WEEKLY;BYDAY=MO,TU;BYHOUR=9,23,23;BYMINUTE=59"}, ""},
		{Schedule{Kind: ScheduleCron, Timezone: "UTC", Cron: "* * * * *"}, "* * * * *"},
		{Schedule{Kind: ScheduleCron, Timezone: "UTC", Cron: "0,30 9 * * *"}, "0,30 9 * * *"},
		{Schedule{Kind: ScheduleCron, Timezone: "UTC", Cron: "0 9 * * 1-5"}, ""},
		{Schedule{Kind: ScheduleCron, Timezone: "America/New_York", Cron: "0 * * * *"}, ""},
		{Schedule{Kind: ScheduleRRule, Timezone: "UTC", Start: "2026-06-01T09:00", RRule: "FREQ=HOURLY;COUNT=48"}, ""},
		{Schedule{Kind: ScheduleLocal, Start: "2026-06-01", LocalTime: "09:00", RRule: "FREQ=DAILY;COUNT=30"}, ""},
		{Schedule{Kind: ScheduleLocal, Start: "2026-06-01", LocalTime: "09:00", RRule: "FREQ=MINUTELY;COUNT=30"}, "FREQ=MINUTELY;COUNT=30"},
	} {
		require.NoError(t, c.s.Validate(), "%+v", c.s)
		err := c.s.CheckInterval(time.Hour, now) // COACHWIRE_NUDGE_MIN_INTERVAL's default
		if c.tooOft == "" {
			require.NoError(t, err, "%+v", c.s)
			continue
		}
		require.Error(t, err, "%+v", c.s)
		require.Contains(t, err.Error(), c.tooOft)
		require.Contains(t, err.Error(), "minimum interval between occurrences is 1h0m0s")
	}
	// The minimum is configurable: 30 minutes allows a half-hourly rule, 0 disables the check.
	half := Schedule{Kind: ScheduleCron, Timezone: "UTC", Cron: "0,30 9 * * *"}
	require.NoError(t, half.CheckInterval(30*time.Minute, now))
	require.NoError(t, Schedule{Kind: ScheduleCron, Timezone: "UTC", Cron: "* * * * *"}.CheckInterval(0, now))
}
