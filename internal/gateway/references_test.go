package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestForeignIDsInRequestsAreRefused: creator B names creator A's program, end user,
// enrollment, campaign and conversation in every request that takes a reference (in the path
// or in the body). Each is refused with 404 like an unknown id, never stored, never a 5xx; the
// same request with B's own ids works, and A's data is unchanged afterwards.
func TestForeignIDsInRequestsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	a := e.register(t, uniqueEmail())
	b := e.register(t, uniqueEmail())
	ctx := context.Background()

	type ids struct{ program, endUser, endUser2, enrollment, campaign, conversation uuid.UUID }
	setup := func(s session) ids {
		t.Helper()
		var x ids
		users := seedEndUsers(t, s.Creator.ID, 2, "widget")
		x.endUser, x.endUser2 = users[0], users[1]
		var p struct{ ID uuid.UUID }
		r := e.do(t, "POST", "/api/v1/programs", map[string]any{"name": "p",
			"steps": []map[string]any{{"day": 0, "content": map[string]any{"kind": "text", "text": "hi"}}}}, bearer(s)...)
		if r.status != http.StatusCreated {
			t.Fatalf("create program: %d %s", r.status, r.body)
		}
		r.json(t, &p)
		x.program = p.ID
		r = e.do(t, "POST", "/api/v1/programs/"+x.program.String()+"/enrollments", map[string]any{"end_user_id": x.endUser}, bearer(s)...)
		if r.status != http.StatusCreated {
			t.Fatalf("enroll: %d %s", r.status, r.body)
		}
		r.json(t, &p)
		x.enrollment = p.ID
		r = e.do(t, "POST", "/api/v1/campaigns", campaignBody(map[string]any{"all": true}), bearer(s)...)
		if r.status != http.StatusCreated {
			t.Fatalf("create campaign: %d %s", r.status, r.body)
		}
		r.json(t, &p)
		x.campaign = p.ID
		x.conversation = uuid.New()
		if err := testenv.Store(t).InTenant(ctx, s.Creator.ID, func(q *db.Queries) error {
			_, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: x.conversation, CreatorID: s.Creator.ID, EndUserID: x.endUser, Channel: "widget"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return x
	}
	ia, ib := setup(a), setup(b)

	type attack struct {
		name         string
		method, path string
		body         any
		// noOwn: not repeated with B's own ids (it would change what later cases see, or
		// needs the bus this test server runs without).
		noOwn bool
	}
	// Each request is made by B with A's ids (foreign) and, where it changes nothing that later
	// cases rely on, with B's own (own) to show the request is otherwise valid.
	requests := func(x ids) []attack {
		return []attack{
			{"campaign audience naming a program", "POST", "/api/v1/campaigns", campaignBody(map[string]any{"program_id": x.program}), false},
			{"campaign edited to name a program", "PATCH", "/api/v1/campaigns/" + ib.campaign.String(), campaignBody(map[string]any{"program_id": x.program}), false},
			{"enrollment into a program", "POST", "/api/v1/programs/" + x.program.String() + "/enrollments", map[string]any{"end_user_id": ib.endUser2}, false},
			{"enrollment of an end user", "POST", "/api/v1/programs/" + ib.program.String() + "/enrollments", map[string]any{"end_user_id": x.endUser2}, false},
			{"memory of an end user", "PUT", "/api/v1/end-users/" + x.endUser.String() + "/memory", map[string]any{"profile": map[string]any{"facts": []string{"x"}}}, false},
			{"tags of an end user", "PUT", "/api/v1/end-users/" + x.endUser.String() + "/tags", map[string]any{"tags": []string{"x"}}, false},
			{"campaign preview", "POST", "/api/v1/campaigns/" + x.campaign.String() + "/preview", nil, false},
			{"campaign edit", "PATCH", "/api/v1/campaigns/" + x.campaign.String(), campaignBody(map[string]any{"all": true}), false},
			{"enrollment pause", "POST", "/api/v1/programs/" + x.program.String() + "/enrollments/" + x.enrollment.String() + "/pause", nil, false},
			{"enrollment through own program", "POST", "/api/v1/programs/" + ib.program.String() + "/enrollments/" + x.enrollment.String() + "/cancel", nil, true},
			{"takeover", "POST", "/api/v1/conversations/" + x.conversation.String() + "/takeover", nil, true},
		}
	}
	own := requests(ib)
	for i, atk := range requests(ia) {
		t.Run(atk.name, func(t *testing.T) {
			r := e.do(t, atk.method, atk.path, atk.body, bearer(b)...)
			if r.status != http.StatusNotFound || r.code(t) != "not_found" {
				t.Errorf("B %s %s with A's id: %d %s, want 404 not_found", atk.method, atk.path, r.status, r.body)
			}
			if atk.noOwn {
				return
			}
			o := own[i]
			if r := e.do(t, o.method, o.path, o.body, bearer(b)...); r.status >= 300 {
				t.Errorf("B %s %s with B's own id: %d %s", o.method, o.path, r.status, r.body)
			}
		})
	}

	// Nothing of A's changed, and B stored nothing that names A's program.
	var prog struct {
		Enrollments []struct {
			EndUserID uuid.UUID `json:"end_user_id"`
			Status    string    `json:"status"`
		} `json:"enrollments"`
	}
	e.do(t, "GET", "/api/v1/programs/"+ia.program.String(), nil, bearer(a)...).json(t, &prog)
	if len(prog.Enrollments) != 1 || prog.Enrollments[0].EndUserID != ia.endUser || prog.Enrollments[0].Status != "active" {
		t.Errorf("A's program enrollments changed: %+v", prog.Enrollments)
	}
	var camps struct {
		Campaigns []struct {
			Audience struct {
				ProgramID *uuid.UUID `json:"program_id"`
			} `json:"audience"`
		} `json:"campaigns"`
	}
	e.do(t, "GET", "/api/v1/campaigns", nil, bearer(b)...).json(t, &camps)
	for _, c := range camps.Campaigns {
		if c.Audience.ProgramID != nil && *c.Audience.ProgramID == ia.program {
			t.Errorf("B stored a campaign whose audience names A's program")
		}
	}
	var mem struct {
		Profile struct{ Facts []string } `json:"profile"`
	}
	e.do(t, "GET", "/api/v1/end-users/"+ia.endUser.String()+"/memory", nil, bearer(a)...).json(t, &mem)
	if len(mem.Profile.Facts) != 0 {
		t.Errorf("A's end user memory changed: %+v", mem)
	}
}

func campaignBody(audience map[string]any) map[string]any {
	return map[string]any{"name": "c", "audience": audience, "content": map[string]any{"kind": "text", "text": "hello"},
		"schedule": map[string]any{"kind": "once", "at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}}
}
