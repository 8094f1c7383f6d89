package proactive

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// requireRule asserts err is a refusal of the proactive rules of kind and code.
func requireRule(t *testing.T, err error, kind Kind, code string) {
	t.Helper()
	var e *Error
	require.True(t, errors.As(err, &e), "want a proactive.Error, got %v", err)
	require.Equal(t, kind, e.Kind, e.Message)
	require.Equal(t, code, e.Code, e.Message)
}

// newCreator makes a creator (its own tenant) with one widget end user.
func newCreator(t *testing.T, s *db.Store) (creator, endUser uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	creator, endUser = uuid.New(), uuid.New()
	require.NoError(t, s.InTenant(ctx, creator, func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: creator, Name: "Coach", Email: creator.String() + "@example.com",
			WidgetKey: "wk_" + creator.String(), WidgetSecret: "s", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		_, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: endUser, CreatorID: creator, Channel: "widget", ExternalID: "anon"})
		return err
	}))
	return creator, endUser
}

func onceAt(at time.Time) CampaignSpec {
	return CampaignSpec{Name: "Hello", Audience: Audience{All: true}, Content: Content{Kind: ContentText, Text: "Hi {{first_name}}"},
		Schedule: Schedule{Kind: ScheduleOnce, At: &at}}
}

func TestCampaignSpecValidate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	require.NoError(t, onceAt(now.Add(time.Hour)).Validate(now, time.Hour))
	// A one-off "now" a few seconds old is still fine; one older than a minute is in the past.
	require.NoError(t, onceAt(now.Add(-30*time.Second)).Validate(now, time.Hour))
	requireRule(t, onceAt(now.Add(-2*time.Minute)).Validate(now, time.Hour), Invalid, "invalid_campaign")
	bad := onceAt(now.Add(time.Hour))
	bad.Content = Content{Kind: "video"}
	requireRule(t, bad.Validate(now, time.Hour), Invalid, "invalid_campaign")
	every := CampaignSpec{Name: "Often", Audience: Audience{All: true}, Content: Content{Kind: ContentText, Text: "Hi"},
		Schedule: Schedule{Kind: ScheduleCron, Cron: "*/10 * * * *", Timezone: "UTC"}}
	requireRule(t, every.Validate(now, time.Hour), Invalid, "schedule_too_frequent")
	require.NoError(t, every.Validate(now, 5*time.Minute))
}

func TestCampaignLifecycle(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	creator, _ := newCreator(t, s)
	other, _ := newCreator(t, s)
	now := time.Now()
	in := func(c uuid.UUID, f func(q *db.Queries) error) error { return s.InTenant(ctx, c, f) }

	var id uuid.UUID
	require.NoError(t, in(creator, func(q *db.Queries) error {
		c, occ, err := CreateCampaign(ctx, q, creator, onceAt(now.Add(time.Hour)), now)
		require.NoError(t, err)
		require.Equal(t, CampaignActive, c.Status)
		require.Len(t, occ, 1)
		id = c.ID
		return nil
	}))
	// Pausing twice is fine; resuming and cancelling follow the table; a cancelled campaign
	// neither resumes nor takes edits.
	for _, step := range []struct {
		to, want, code string
	}{
		{CampaignPaused, CampaignPaused, ""},
		{CampaignPaused, CampaignPaused, ""},
		{CampaignActive, CampaignActive, ""},
		{CampaignCancelled, CampaignCancelled, ""},
		{CampaignActive, "", "invalid_state"},
		{CampaignPaused, "", "invalid_state"},
	} {
		err := in(creator, func(q *db.Queries) error {
			c, err := SetCampaignStatus(ctx, q, creator, id, step.to, now)
			if err == nil {
				require.Equal(t, step.want, c.Status)
			}
			return err
		})
		if step.code != "" {
			requireRule(t, err, Conflict, step.code)
		} else {
			require.NoError(t, err, "to %s", step.to)
		}
	}
	err := in(creator, func(q *db.Queries) error {
		_, _, err := UpdateCampaign(ctx, q, creator, id, onceAt(now.Add(2*time.Hour)), now)
		return err
	})
	requireRule(t, err, Conflict, "campaign_finished")

	// Another creator's program is refused like an unknown one; the campaign is not stored.
	var foreign db.Program
	require.NoError(t, in(other, func(q *db.Queries) (err error) {
		foreign, err = CreateProgram(ctx, q, other, ProgramSpec{Name: "P", Steps: []Step{{Content: Content{Kind: ContentText, Text: "x"}}}})
		return err
	}))
	spec := onceAt(now.Add(time.Hour))
	spec.Audience = Audience{ProgramID: &foreign.ID}
	err = in(creator, func(q *db.Queries) error {
		_, _, err := CreateCampaign(ctx, q, creator, spec, now)
		return err
	})
	requireRule(t, err, NotFound, "not_found")
	require.NoError(t, in(creator, func(q *db.Queries) error {
		list, err := q.ListCampaigns(ctx, db.ListCampaignsParams{MaxRows: 10})
		require.Len(t, list, 1)
		return err
	}))
}

func TestProgramLifecycle(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	creator, endUser := newCreator(t, s)
	now := time.Now()
	in := func(f func(q *db.Queries) error) error { return s.InTenant(ctx, creator, f) }
	steps := []Step{{Day: 0, Content: Content{Kind: ContentText, Text: "Day one"}}, {Day: 1, Content: Content{Kind: ContentText, Text: "Day two"}}}

	requireRule(t, CheckKeyword("STOP"), Invalid, "invalid_program")
	require.NoError(t, CheckKeyword("JOIN"))

	var p db.Program
	require.NoError(t, in(func(q *db.Queries) (err error) {
		p, err = CreateProgram(ctx, q, creator, ProgramSpec{Name: "Drip", Keyword: "JOIN", Steps: steps})
		return err
	}))
	err := in(func(q *db.Queries) error {
		_, err := CreateProgram(ctx, q, creator, ProgramSpec{Name: "Other", Keyword: "JOIN", Steps: steps})
		return err
	})
	requireRule(t, err, Conflict, "keyword_taken")

	var e db.ProgramEnrollment
	require.NoError(t, in(func(q *db.Queries) (err error) {
		e, err = EnrollEndUser(ctx, q, p.ID, endUser, now)
		return err
	}))
	requireRule(t, in(func(q *db.Queries) error {
		_, err := EnrollEndUser(ctx, q, p.ID, uuid.New(), now)
		return err
	}), NotFound, "not_found")
	// One enrollment: resume only when paused, cancel once; another program's id is not found.
	for _, step := range []struct {
		program uuid.UUID
		action  string
		want    string
		kind    Kind
	}{
		{p.ID, EnrollmentResume, "", Conflict},
		{p.ID, EnrollmentPause, "paused", 0},
		{p.ID, EnrollmentResume, "active", 0},
		{uuid.New(), EnrollmentCancel, "", NotFound},
		{p.ID, EnrollmentCancel, "cancelled", 0},
		{p.ID, EnrollmentCancel, "", Conflict},
	} {
		err := in(func(q *db.Queries) error {
			got, err := ChangeEnrollment(ctx, q, step.program, e.ID, step.action, now)
			if err == nil {
				require.Equal(t, step.want, got.Status)
			}
			return err
		})
		if step.kind != 0 {
			var re *Error
			require.True(t, errors.As(err, &re), "%s: %v", step.action, err)
			require.Equal(t, step.kind, re.Kind)
		} else {
			require.NoError(t, err, step.action)
		}
	}

	for _, step := range []struct{ to, want string }{{ProgramPaused, "paused"}, {ProgramActive, "active"}, {ProgramArchived, "archived"}} {
		require.NoError(t, in(func(q *db.Queries) error {
			got, err := SetProgramStatus(ctx, q, p.ID, step.to, now)
			if err == nil {
				require.Equal(t, step.want, got.Status)
			}
			return err
		}), step.to)
	}
	requireRule(t, in(func(q *db.Queries) error {
		_, err := SetProgramStatus(ctx, q, p.ID, ProgramActive, now)
		return err
	}), Conflict, "invalid_state")
	requireRule(t, in(func(q *db.Queries) error {
		_, err := UpdateProgram(ctx, q, p.ID, ProgramSpec{Name: "Drip 2", Steps: steps}, now)
		return err
	}), Conflict, "program_archived")
	requireRule(t, in(func(q *db.Queries) error {
		_, err := EnrollEndUser(ctx, q, p.ID, endUser, now)
		return err
	}), Conflict, "program_archived")
	requireRule(t, in(func(q *db.Queries) error {
		_, err := SetProgramStatus(ctx, q, uuid.New(), ProgramPaused, now)
		return err
	}), NotFound, "not_found")
}

func TestRowDecoders(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	spec := onceAt(at)
	aud, content, sched, err := spec.columns()
	require.NoError(t, err)
	c, err := CampaignOf(db.Campaign{ID: uuid.New(), Name: "Hello", Status: "active", Audience: aud, Content: content, Schedule: sched})
	require.NoError(t, err)
	require.Equal(t, spec.Content, c.Content)
	require.True(t, c.Schedule.At.Equal(at))
	_, err = CampaignOf(db.Campaign{ID: uuid.New(), Audience: aud, Content: []byte(`{"kind":`), Schedule: sched})
	require.ErrorContains(t, err, "content")

	steps, err := json.Marshal([]Step{{Day: 2, Content: Content{Kind: ContentText, Text: "x"}}})
	require.NoError(t, err)
	p, err := ProgramOf(db.Program{ID: uuid.New(), Name: "P", Steps: steps})
	require.NoError(t, err)
	require.Equal(t, 2, p.Steps[0].Day)
	_, err = ProgramOf(db.Program{ID: uuid.New(), Steps: []byte(`[{"day":"two"}]`)})
	require.ErrorContains(t, err, "steps")
}

func TestPolicyChangeApply(t *testing.T) {
	t.Parallel()
	cur := db.GetCreatorPolicyRow{Timezone: "UTC", QuietStart: 22 * 60, QuietEnd: 7 * 60, NudgeCapDay: 2, NudgeCapWeek: 5}
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	p, err := PolicyChange{QuietEnd: str("08:30"), CapWeek: num(0)}.Apply(cur)
	require.NoError(t, err)
	require.Equal(t, db.SetCreatorPolicyParams{Timezone: "UTC", QuietStart: 22 * 60, QuietEnd: 8*60 + 30, CapDay: 2, CapWeek: 0}, p)
	for _, c := range []PolicyChange{
		{Timezone: str("Local")}, {Timezone: str("Mars/Olympus")}, {QuietStart: str("7:00")}, {QuietStart: str("24:00")},
		{QuietEnd: str("+1:00")}, {CapDay: num(-1)}, {CapDay: num(MaxCapDay + 1)}, {CapWeek: num(MaxCapWeek + 1)},
	} {
		_, err := c.Apply(cur)
		requireRule(t, err, Invalid, "invalid_policy")
	}
}

// TestUpdateProgramKeepsEnrollmentsAtTheirStep: an edit that inserts a step before the one an
// enrollment is due at, and deletes another, leaves the enrollment at the same step (by ID), not
// at whatever step now has its index.
func TestUpdateProgramKeepsEnrollmentsAtTheirStep(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	creator, endUser := newCreator(t, s)
	now := time.Now()
	in := func(f func(q *db.Queries) error) error { return s.InTenant(ctx, creator, f) }
	step := func(id string, day int) Step {
		return Step{ID: id, Day: day, Content: Content{Kind: ContentText, Text: "step " + id}}
	}
	var p db.Program
	var e db.ProgramEnrollment
	require.NoError(t, in(func(q *db.Queries) (err error) {
		if p, err = CreateProgram(ctx, q, creator, ProgramSpec{Name: "Drip", Steps: []Step{step("a", 0), step("b", 1), step("c", 2), step("d", 3)}}); err != nil {
			return err
		}
		if e, err = EnrollEndUser(ctx, q, p.ID, endUser, now); err != nil {
			return err
		}
		// a and b were sent; c is next.
		due := now.Add(time.Hour)
		e, err = q.AdvanceEnrollment(ctx, db.AdvanceEnrollmentParams{ID: e.ID, Status: "active", NextStep: 2, NextAt: &due,
			LastStep: 1, LastStepAt: &now, Entry: json.RawMessage(`[]`)})
		return err
	}))
	// The builder inserts x after a and deletes b: a, x, c, d.
	require.NoError(t, in(func(q *db.Queries) error {
		_, err := UpdateProgram(ctx, q, p.ID, ProgramSpec{Name: "Drip", Steps: []Step{step("a", 0), step("x", 1), step("c", 2), step("d", 3)}}, now)
		return err
	}))
	require.NoError(t, in(func(q *db.Queries) (err error) {
		e, err = q.GetEnrollment(ctx, e.ID)
		return err
	}))
	require.Equal(t, int32(2), e.NextStep, "still due at c")
	require.Equal(t, int32(0), e.LastStep, "b is gone: the last sent step still in the program is a")

	// Now x moves after c: a, c, x, d. The enrollment follows c to index 1.
	require.NoError(t, in(func(q *db.Queries) error {
		_, err := UpdateProgram(ctx, q, p.ID, ProgramSpec{Name: "Drip", Steps: []Step{step("a", 0), step("c", 2), step("x", 2), step("d", 3)}}, now)
		return err
	}))
	require.NoError(t, in(func(q *db.Queries) (err error) {
		e, err = q.GetEnrollment(ctx, e.ID)
		return err
	}))
	require.Equal(t, int32(1), e.NextStep, "still due at c")
}
