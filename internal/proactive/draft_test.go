package proactive

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestCountAudienceAndDraftPreview: the live count agrees with the audience's pages for every
// kind of filter (the two queries carry the same filters), counts the opted-out apart, and a
// draft's preview is the saved campaign's preview, decision for decision. Another creator's
// program id is refused as not found, and another creator's people are never counted.
func TestCountAudienceAndDraftPreview(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	creator, _ := newCreator(t, s)
	other, _ := newCreator(t, s)
	now := time.Now()
	people := []struct {
		tags     []string
		optedOut bool
	}{{[]string{"vip"}, false}, {[]string{"vip", "cohort-1"}, false}, {[]string{"cohort-1"}, true}, {nil, false}}
	require.NoError(t, s.InTenant(ctx, creator, func(q *db.Queries) error {
		for i, p := range people {
			eu, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: uuid.New(), CreatorID: creator, Channel: "widget",
				ExternalID: "u" + string(rune('a'+i)), DisplayName: "Person " + string(rune('A'+i))})
			require.NoError(t, err)
			_, err = q.SetEndUserTags(ctx, db.SetEndUserTagsParams{ID: eu.ID, Tags: append([]string{}, p.tags...)})
			require.NoError(t, err)
			if p.optedOut {
				_, err = q.SetEndUserOptOut(ctx, db.SetEndUserOptOutParams{ID: eu.ID, OptedOut: true})
				require.NoError(t, err)
			}
		}
		return nil
	}))
	// The other creator has people with the same tags: never counted here.
	require.NoError(t, s.InTenant(ctx, other, func(q *db.Queries) error {
		eu, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: uuid.New(), CreatorID: other, Channel: "widget", ExternalID: "x"})
		require.NoError(t, err)
		_, err = q.SetEndUserTags(ctx, db.SetEndUserTagsParams{ID: eu.ID, Tags: []string{"vip"}})
		return err
	}))
	past := now.Add(-time.Hour)
	cases := []struct {
		a           Audience
		total, opts int64
	}{
		{Audience{All: true}, 5, 1},
		{Audience{Tags: []string{"vip"}}, 2, 0},
		{Audience{Tag: "cohort-1"}, 2, 1},
		{Audience{AnyTags: []string{"vip", "cohort-1"}}, 3, 1},
		{Audience{All: true, ExcludeTags: []string{"vip"}}, 3, 1},
		{Audience{Channel: "telegram"}, 0, 0},
		{Audience{ActiveWithinDays: 1}, 5, 1},
		{Audience{InactiveDays: 1}, 0, 0},
		{Audience{JoinedAfter: &past}, 5, 1},
	}
	require.NoError(t, s.InTenant(ctx, creator, func(q *db.Queries) error {
		for _, c := range cases {
			n, err := CountAudience(ctx, q, c.a, now)
			require.NoError(t, err)
			page, err := q.AudiencePage(ctx, c.a.PageParams(uuid.Nil, 1000, now))
			require.NoError(t, err)
			require.Equal(t, AudienceCount{Total: c.total, OptedOut: c.opts}, n, "%+v", c.a)
			require.Len(t, page, int(n.Total), "count and pages agree for %+v", c.a)
		}
		return nil
	}))

	// Another creator's program: not found, as on create.
	var foreign uuid.UUID
	require.NoError(t, s.InTenant(ctx, other, func(q *db.Queries) error {
		p, err := CreateProgram(ctx, q, other, ProgramSpec{Name: "P", Steps: []Step{{Content: Content{Kind: ContentText, Text: "Hi"}}}})
		foreign = p.ID
		return err
	}))
	require.NoError(t, s.InTenant(ctx, creator, func(q *db.Queries) error {
		_, err := CountAudience(ctx, q, Audience{ProgramID: &foreign}, now)
		requireRule(t, err, NotFound, "not_found")
		_, err = PreviewDraft(ctx, q, Platform{}, creator, CampaignSpec{Audience: Audience{ProgramID: &foreign},
			Content: Content{Kind: ContentText, Text: "Hi"}, Schedule: Schedule{Kind: ScheduleOnce, At: &now}}, nil, uuid.Nil, 10, now)
		requireRule(t, err, NotFound, "not_found")
		return nil
	}))

	// The draft's preview is the saved campaign's.
	spec := onceAt(now.Add(time.Hour))
	spec.Audience = Audience{AnyTags: []string{"vip", "cohort-1"}}
	platform := Platform{CeilingDay: 5, CeilingWeek: 20, LiveWindow: time.Minute, MaxHold: time.Hour}
	require.NoError(t, s.InTenant(ctx, creator, func(q *db.Queries) error {
		c, _, err := CreateCampaign(ctx, q, creator, spec, now)
		require.NoError(t, err)
		saved, err := Preview(ctx, q, platform, creator, c.ID, nil, uuid.Nil, 10, now)
		require.NoError(t, err)
		draft, err := PreviewDraft(ctx, q, platform, creator, spec, nil, uuid.Nil, 10, now)
		require.NoError(t, err)
		require.Equal(t, saved, draft)
		require.Len(t, draft.Recipients, 3)
		outcomes := map[string]int{}
		for _, r := range draft.Recipients {
			outcomes[r.Decision.Outcome+":"+r.Decision.Reason]++
		}
		require.Equal(t, 1, outcomes["skipped:opted_out"], "%v", outcomes)
		return nil
	}))
}
