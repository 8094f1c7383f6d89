package gateway

// The audit log (issue 11, migration 0018): who changed what in a workspace, when, from which
// address. One mechanism writes it:
//
//   - routeAudit below declares, per route pattern of the route table, the action it records,
//     the type of its target and the path parameter holding the target's id. The route table's
//     creator helper looks the pattern up (Route.Audit) and wraps the handler (audited).
//   - audited puts an auditRecorder in the request's context as a db.BeforeCommit hook. Every
//     tenant transaction the handler runs with that context (Store.InTenant, directly or inside
//     a domain package) calls it just before COMMIT: it appends the entry to audit_log in that
//     same transaction when the transaction changed something (PostgreSQL assigned it a
//     transaction id), once per request. A change that fails or rolls back leaves no row; a
//     request that changed nothing (a read, a refused change) leaves none either.
//   - Handlers only add what the route table cannot know: the id of what they created
//     (auditTarget), details (auditDetail), or a lookup run in the transaction (auditResolve).
//
// Public routes (sign-in, invitation acceptance, registration) open their recorder themselves
// (s.auditFor), since who acts is known only inside them. TestEveryChangeIsAudited keeps every
// non-GET creator route declared here or listed in notAudited.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// auditSpec is one route's audit declaration.
type auditSpec struct {
	// Action is what the route records: "<thing>.<verb in the past>".
	Action string
	// Target is the type of what the action changed ("" none), Param the path parameter that
	// holds its id ("" when the handler sets it with auditTarget, or there is none).
	Target, Param string
	// Always records the entry even when the request changed nothing in the database (reads
	// that must be on record: exports). It is written in the request's first tenant transaction.
	Always bool
}

// routeAudit declares the audited routes of the route table (gateway.go), by pattern. A new
// route that changes something adds a line here (docs/architecture.md, "Audit log").
var routeAudit = map[string]auditSpec{
	// Team, invitations, ownership, API keys (api_team.go, api_keys.go).
	"PATCH /api/v1/members/{user_id}":                            {Action: "member.role_changed", Target: "member", Param: "user_id"},
	"DELETE /api/v1/members/{user_id}":                           {Action: "member.removed", Target: "member", Param: "user_id"},
	"POST /api/v1/members/{user_id}/transfer-ownership":          {Action: "ownership.transferred", Target: "member", Param: "user_id"},
	"POST /api/v1/invitations":                                   {Action: "invitation.created", Target: "invitation"},
	"DELETE /api/v1/invitations/{id}":                            {Action: "invitation.revoked", Target: "invitation", Param: "id"},
	"POST /api/v1/invitations/accept":                            {Action: "invitation.accepted", Target: "invitation"},
	"POST /api/v1/api-keys":                                      {Action: "api_key.created", Target: "api_key"},
	"DELETE /api/v1/api-keys/{id}":                               {Action: "api_key.revoked", Target: "api_key", Param: "id"},
	"POST /api/v1/auth/register":                                 {Action: "workspace.created", Target: "workspace"},
	"POST /api/v1/auth/login":                                    {Action: "auth.sign_in", Target: "user"},
	"PUT /api/v1/widget/settings":                                {Action: "widget_settings.updated", Target: "workspace"},
	"PATCH /api/v1/widget/settings":                              {Action: "widget_settings.updated", Target: "workspace"},
	"PUT /api/v1/nudge-policy":                                   {Action: "nudge_policy.updated", Target: "workspace"},
	"PATCH /api/v1/nudge-policy":                                 {Action: "nudge_policy.updated", Target: "workspace"},
	"POST /api/v1/documents":                                     {Action: "document.uploaded", Target: "document"},
	"POST /api/v1/documents/import":                              {Action: "document.imported", Target: "document"},
	"POST /api/v1/documents/reindex":                             {Action: "document.reindexed_all", Target: "workspace"},
	"PUT /api/v1/documents/{id}":                                 {Action: "document.replaced", Target: "document", Param: "id"},
	"DELETE /api/v1/documents/{id}":                              {Action: "document.deleted", Target: "document", Param: "id"},
	"POST /api/v1/documents/{id}/reindex":                        {Action: "document.reindexed", Target: "document", Param: "id"},
	"POST /api/v1/channels":                                      {Action: "channel.added", Target: "channel"},
	"PATCH /api/v1/channels/{id}":                                {Action: "channel.updated", Target: "channel", Param: "id"},
	"DELETE /api/v1/channels/{id}":                               {Action: "channel.removed", Target: "channel", Param: "id"},
	"POST /api/v1/conversations/{id}/messages":                   {Action: "conversation.replied", Target: "conversation", Param: "id"},
	"POST /api/v1/conversations/{id}/takeover":                   {Action: "conversation.taken_over", Target: "conversation", Param: "id"},
	"POST /api/v1/conversations/{id}/release":                    {Action: "conversation.released", Target: "conversation", Param: "id"},
	"POST /api/v1/campaigns":                                     {Action: "campaign.created", Target: "campaign"},
	"PATCH /api/v1/campaigns/{id}":                               {Action: "campaign.updated", Target: "campaign", Param: "id"},
	"POST /api/v1/campaigns/{id}/pause":                          {Action: "campaign.paused", Target: "campaign", Param: "id"},
	"POST /api/v1/campaigns/{id}/resume":                         {Action: "campaign.resumed", Target: "campaign", Param: "id"},
	"POST /api/v1/campaigns/{id}/cancel":                         {Action: "campaign.cancelled", Target: "campaign", Param: "id"},
	"POST /api/v1/programs":                                      {Action: "program.created", Target: "program"},
	"PATCH /api/v1/programs/{id}":                                {Action: "program.updated", Target: "program", Param: "id"},
	"POST /api/v1/programs/{id}/pause":                           {Action: "program.paused", Target: "program", Param: "id"},
	"POST /api/v1/programs/{id}/resume":                          {Action: "program.resumed", Target: "program", Param: "id"},
	"POST /api/v1/programs/{id}/archive":                         {Action: "program.archived", Target: "program", Param: "id"},
	"POST /api/v1/programs/{id}/enrollments":                     {Action: "program.enrolled", Target: "program", Param: "id"},
	"POST /api/v1/programs/{id}/enrollments/{enrollment}/pause":  {Action: "enrollment.paused", Target: "enrollment", Param: "enrollment"},
	"POST /api/v1/programs/{id}/enrollments/{enrollment}/resume": {Action: "enrollment.resumed", Target: "enrollment", Param: "enrollment"},
	"POST /api/v1/programs/{id}/enrollments/{enrollment}/cancel": {Action: "enrollment.cancelled", Target: "enrollment", Param: "enrollment"},
	"PUT /api/v1/end-users/{id}/memory":                          {Action: "memory.edited", Target: "end_user", Param: "id"},
	"DELETE /api/v1/end-users/{id}/memory":                       {Action: "memory.erased", Target: "end_user", Param: "id"},
	"PUT /api/v1/end-users/{id}/tags":                            {Action: "end_user.tags_changed", Target: "end_user", Param: "id"},
	"DELETE /api/v1/end-users/{id}":                              {Action: "end_user.deleted", Target: "end_user", Param: "id"},
	"DELETE /api/v1/end-users/{id}/link":                         {Action: "end_user.unlinked", Target: "end_user", Param: "id"},
	// Exports change nothing but are on record (Always).
	"GET /api/v1/end-users/{id}/export": {Action: "end_user.exported", Target: "end_user", Param: "id", Always: true},
	"GET /api/v1/export":                {Action: "workspace.exported", Target: "workspace", Always: true},
	// The signed-in person's own account (api_sessions.go): the handler names the user. The
	// password change is written with the new hash (not Always: a refused change, e.g. a wrong
	// current password, has already read the profile in a tenant transaction and is no change).
	"POST /api/v1/auth/password":            {Action: "auth.password_changed", Target: "user"},
	"POST /api/v1/auth/sessions/revoke-all": {Action: "auth.signed_out_everywhere", Target: "user", Always: true},
}

// notAudited are the creator routes that are not GET and change nothing worth recording: a
// workspace switch (it opens a session, like a sign-in, but in a workspace the person already
// belongs to), signing out one of one's own sessions, and the dry runs (campaign previews and
// audience counts, program validation, "try a question", a channel's provider check).
var notAudited = map[string]bool{
	"POST /api/v1/auth/switch":              true,
	"DELETE /api/v1/auth/sessions/{id}":     true,
	"POST /api/v1/campaigns/{id}/preview":   true,
	"POST /api/v1/campaigns/preview":        true,
	"POST /api/v1/campaigns/audience-count": true,
	"POST /api/v1/programs/validate":        true,
	"POST /api/v1/knowledge/search":         true,
	"POST /api/v1/channels/{id}/test":       true,
}

// Actions written outside the route table.
const (
	auditSignInFailed = "auth.sign_in_failed"
)

// auditRecorder is one request's pending audit entry (see the package comment above).
type auditRecorder struct {
	mu        sync.Mutex
	creatorID uuid.UUID
	entry     db.InsertAuditEntryParams
	details   map[string]any
	resolve   []func(ctx context.Context, q *db.Queries) error
	written   bool
	now       func() time.Time
}

type auditKey struct{}

// auditFor opens a recorder for action in workspace creatorID (the actor may be set later,
// auditActor) and returns the context that carries it to the request's tenant transactions.
func (s *Server) auditFor(ctx context.Context, r *http.Request, creatorID uuid.UUID, spec auditSpec) context.Context {
	ctx = s.auditAt(ctx, s.clientIP(r), creatorID, spec)
	if spec.Param != "" {
		auditTarget(ctx, r.PathValue(spec.Param))
	}
	return ctx
}

// auditAt is auditFor for a client address known already (no request at hand).
func (s *Server) auditAt(ctx context.Context, ip string, creatorID uuid.UUID, spec auditSpec) context.Context {
	rec := &auditRecorder{creatorID: creatorID, now: s.Now, entry: db.InsertAuditEntryParams{
		Action: spec.Action, TargetType: spec.Target, Ip: ip, Always: spec.Always, ActorType: "anonymous"}}
	ctx = context.WithValue(ctx, auditKey{}, rec)
	return db.WithBeforeCommit(ctx, rec.beforeCommit)
}

// background runs fn after the request's answer; Shutdown waits for it (once closing, fn runs
// at once instead).
func (s *Server) background(fn func()) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		fn()
		return
	}
	s.bg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.bg.Done()
		fn()
	}()
}

// audited wraps a creator route's handler with its recorder (nothing for an undeclared route).
func (s *Server) audited(spec auditSpec, ok bool, h func(http.ResponseWriter, *http.Request, creatorAuth) error) func(http.ResponseWriter, *http.Request, creatorAuth) error {
	if !ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
		ctx := s.auditFor(r.Context(), r, a.CreatorID, spec)
		if a.person() {
			auditActor(ctx, "user", a.UserID, "")
		} else {
			auditActor(ctx, "api_key", a.KeyID, "")
		}
		if spec.Target == "workspace" {
			auditTarget(ctx, a.CreatorID)
		}
		if id, err := uuid.Parse(r.PathValue(spec.Param)); err == nil && spec.Param != "" {
			s.auditTargetName(r.Context(), ctx, a.CreatorID, spec.Target, id)
		}
		return h(w, r.WithContext(ctx), a)
	}
}

// auditTargetName adds, as a detail of the entry in actx, the readable name of the target as it
// is before the change (a member's email, a document's title, a channel's, campaign's or
// program's name): after a removal nothing else would name it. It is read in a transaction of
// its own before the handler runs; an unknown target adds nothing (the handler answers 404).
func (s *Server) auditTargetName(ctx, actx context.Context, creatorID uuid.UUID, typ string, id uuid.UUID) {
	_ = s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
		switch typ {
		case "member":
			if p, err := q.MemberProfile(ctx, id); err == nil {
				auditDetail(actx, "email", p.Email)
			}
		case "document":
			if d, err := q.GetDocument(ctx, id); err == nil {
				auditDetail(actx, "title", d.Title)
			}
		case "channel":
			if c, err := q.GetChannel(ctx, id); err == nil {
				auditDetail(actx, "name", c.Name)
			}
		case "campaign":
			if c, err := q.GetCampaign(ctx, id); err == nil {
				auditDetail(actx, "name", c.Name)
			}
		case "program":
			if p, err := q.GetProgram(ctx, id); err == nil {
				auditDetail(actx, "name", p.Name)
			}
		}
		return nil
	})
}

func recorderOf(ctx context.Context) *auditRecorder {
	rec, _ := ctx.Value(auditKey{}).(*auditRecorder)
	return rec
}

// auditActor names who acts (kind "user" or "api_key"); an empty label is looked up when the
// entry is written (the member's email, the key's name).
func auditActor(ctx context.Context, kind string, id uuid.UUID, label string) {
	if rec := recorderOf(ctx); rec != nil {
		rec.mu.Lock()
		rec.entry.ActorType, rec.entry.ActorID, rec.entry.ActorLabel = kind, uuid.NullUUID{UUID: id, Valid: id != uuid.Nil}, label
		rec.mu.Unlock()
	}
}

// auditTarget sets the id of the entry's target (what a create made).
func auditTarget(ctx context.Context, id any) {
	if rec := recorderOf(ctx); rec != nil {
		rec.mu.Lock()
		rec.entry.TargetID = fmt.Sprint(id)
		rec.mu.Unlock()
	}
}

// auditDetail adds one detail (never a secret: no token, password or message text).
func auditDetail(ctx context.Context, key string, v any) {
	if rec := recorderOf(ctx); rec != nil {
		rec.mu.Lock()
		if rec.details == nil {
			rec.details = map[string]any{}
		}
		rec.details[key] = v
		rec.mu.Unlock()
	}
}

// auditResolve runs fn in the transaction that writes the entry, just before it is written:
// for a target whose id only that transaction knows (a document a domain package inserted).
func auditResolve(ctx context.Context, fn func(ctx context.Context, q *db.Queries) error) {
	if rec := recorderOf(ctx); rec != nil {
		rec.mu.Lock()
		rec.resolve = append(rec.resolve, fn)
		rec.mu.Unlock()
	}
}

// beforeCommit is the db.BeforeCommit hook: it writes the entry once, in the first of the
// request's tenant transactions of the recorder's workspace that changed something.
func (rec *auditRecorder) beforeCommit(ctx context.Context, creatorID uuid.UUID, q *db.Queries) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.written || creatorID != rec.creatorID {
		return nil
	}
	for _, fn := range rec.resolve {
		rec.mu.Unlock()
		err := fn(ctx, q)
		rec.mu.Lock()
		if err != nil {
			return err
		}
	}
	p := rec.entry
	p.CreatorID = creatorID
	p.ID = uuid.Must(uuid.NewV7())
	p.At = rec.now().UTC()
	p.Details = json.RawMessage("{}")
	if len(rec.details) > 0 {
		raw, err := json.Marshal(rec.details)
		if err != nil {
			return err
		}
		p.Details = raw
	}
	n, err := q.InsertAuditEntry(ctx, p)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	rec.written = n > 0
	return nil
}

// auditFailedSignIn records a failed sign-in of an existing person in every workspace they
// belong to (each workspace's owners and admins see attempts on their members' accounts). An
// email that names nobody is recorded nowhere (no workspace is concerned; the login limits
// still count it). A failure to record is logged, never answered: the client gets the same 401.
// It runs after the answer (Server.background): no timing tells an existing account apart.
func (s *Server) auditFailedSignIn(ctx context.Context, ip string, userID uuid.UUID, email string) {
	var ws []db.UserWorkspacesRow
	err := s.Store.AsUser(ctx, userID, func(q *db.Queries) (err error) {
		ws, err = q.UserWorkspaces(ctx, userID)
		return err
	})
	for _, w := range ws {
		if err != nil {
			break
		}
		actx := s.auditAt(ctx, ip, w.CreatorID, auditSpec{Action: auditSignInFailed, Target: "user", Always: true})
		auditActor(actx, "anonymous", userID, email)
		auditTarget(actx, userID)
		auditDetail(actx, "reason", "invalid_credentials")
		err = s.Store.InTenant(actx, w.CreatorID, func(*db.Queries) error { return nil })
	}
	if err != nil {
		s.Log.Error("audit: failed sign-in not recorded", "user", userID, "err", err)
	}
}

// auditOut is one entry as the API answers it.
type auditOut struct {
	ID         uuid.UUID       `json:"id"`
	At         time.Time       `json:"at"`
	ActorType  string          `json:"actor_type"`
	ActorID    *uuid.UUID      `json:"actor_id"`
	ActorLabel string          `json:"actor_label"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	IP         string          `json:"ip"`
	Details    json.RawMessage `json:"details"`
}

func toAuditOut(e db.AuditLog) auditOut {
	out := auditOut{ID: e.ID, At: e.At.UTC(), ActorType: e.ActorType, ActorLabel: e.ActorLabel, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, IP: e.Ip, Details: e.Details}
	if e.ActorID.Valid {
		out.ActorID = &e.ActorID.UUID
	}
	if len(out.Details) == 0 {
		out.Details = json.RawMessage("{}")
	}
	return out
}

const (
	auditPageDefault = 50
	auditPageMax     = 200
	// auditCSVBatch is how many rows each of a CSV export's transactions reads.
	auditCSVBatch = 1000
)

// auditQuery reads the filters of GET /api/v1/audit.
func auditQuery(r *http.Request) (db.ListAuditEntriesParams, error) {
	q := r.URL.Query()
	var p db.ListAuditEntriesParams
	opt := func(name string) *string {
		if v := strings.TrimSpace(q.Get(name)); v != "" {
			return &v
		}
		return nil
	}
	if v := opt("actor"); v != nil {
		if id, err := uuid.Parse(*v); err == nil {
			p.ActorID = uuid.NullUUID{UUID: id, Valid: true}
		} else {
			p.ActorLabel = v
		}
	}
	if v := opt("action"); v != nil {
		switch {
		case strings.HasSuffix(*v, ".*"):
			prefix := strings.TrimSuffix(*v, "*")
			p.ActionPrefix = &prefix
		case strings.HasSuffix(*v, "."):
			p.ActionPrefix = v
		default:
			p.Action = v
		}
	}
	p.TargetType, p.TargetID = opt("target_type"), opt("target_id")
	for _, tf := range []struct {
		name string
		dst  **time.Time
	}{{"from", &p.FromAt}, {"to", &p.ToAt}} {
		if v := opt(tf.name); v != nil {
			t, err := parseAuditTime(*v)
			if err != nil {
				return p, errBadRequest("invalid_"+tf.name, tf.name+" must be a date (2026-12-05) or an RFC 3339 time (2026-12-05T10:00:00Z)")
			}
			*tf.dst = &t
		}
	}
	if v := opt("cursor"); v != nil {
		at, id, err := parseInboxCursor(*v)
		if err != nil {
			return p, errBadRequest("invalid_cursor", "cursor must be the next_cursor of a previous page")
		}
		p.BeforeAt, p.BeforeID = &at, uuid.NullUUID{UUID: id, Valid: true}
	}
	p.Lim = auditPageDefault
	if v := opt("limit"); v != nil {
		n, err := strconv.Atoi(*v)
		if err != nil || n < 1 || n > auditPageMax {
			return p, errBadRequest("invalid_limit", fmt.Sprintf("limit must be 1..%d", auditPageMax))
		}
		p.Lim = int32(n)
	}
	return p, nil
}

// parseAuditTime accepts RFC 3339 or a bare date (midnight UTC).
func parseAuditTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, v)
}

func auditCursor(e db.AuditLog) string {
	return inboxCursor(e.At, e.ID)
}

// handleListAudit answers GET /api/v1/audit: one page of the workspace's log, newest first, with
// next_cursor when there is more; with ?format=csv the whole filtered log as CSV, streamed.
func (s *Server) handleListAudit(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	p, err := auditQuery(r)
	if err != nil {
		return err
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
	case "csv":
		return s.writeAuditCSV(w, r, a, p)
	default:
		return errBadRequest("invalid_format", "format must be json or csv")
	}
	ctx := r.Context()
	var rows []db.AuditLog
	want := p.Lim
	p.Lim++ // one more tells whether there is a next page
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		rows, err = q.ListAuditEntries(ctx, p)
		return err
	}); err != nil {
		return err
	}
	out := struct {
		Entries    []auditOut `json:"entries"`
		NextCursor *string    `json:"next_cursor"`
	}{Entries: make([]auditOut, 0, len(rows))}
	if len(rows) > int(want) {
		rows = rows[:want]
		c := auditCursor(rows[len(rows)-1])
		out.NextCursor = &c
	}
	for _, e := range rows {
		out.Entries = append(out.Entries, toAuditOut(e))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// auditCSVHeader is the CSV export's header row.
var auditCSVHeader = []string{"at", "actor_type", "actor_id", "actor_label", "action", "target_type", "target_id", "ip", "details", "id"}

// writeAuditCSV streams the filtered log (the cursor and limit of the query are ignored: the
// export is whole) in batches, each read in its own transaction and flushed as it is written.
// A cell a spreadsheet would take for a formula (=, +, -, @ first) is prefixed with '.
func (s *Server) writeAuditCSV(w http.ResponseWriter, r *http.Request, a creatorAuth, p db.ListAuditEntriesParams) error {
	ctx := r.Context()
	p.BeforeAt, p.BeforeID, p.Lim = nil, uuid.NullUUID{}, auditCSVBatch
	var first []db.AuditLog
	// The first batch is read before any byte is sent, so a database error is still a JSON 500.
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		first, err = q.ListAuditEntries(ctx, p)
		return err
	}); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%s.csv"`, s.Now().UTC().Format("2006-01-02")))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	rc := http.NewResponseController(w)
	_ = cw.Write(auditCSVHeader)
	rows := first
	for {
		for _, e := range rows {
			actor := ""
			if e.ActorID.Valid {
				actor = e.ActorID.UUID.String()
			}
			details := string(e.Details)
			if details == "" {
				details = "{}"
			}
			rec := []string{e.At.UTC().Format(time.RFC3339Nano), e.ActorType, actor, e.ActorLabel, e.Action, e.TargetType,
				e.TargetID, e.Ip, details, e.ID.String()}
			for i, v := range rec {
				rec[i] = csvSafe(v)
			}
			if err := cw.Write(rec); err != nil {
				return nil // the client went away
			}
		}
		cw.Flush()
		_ = rc.Flush()
		if len(rows) < auditCSVBatch || cw.Error() != nil {
			return nil
		}
		last := rows[len(rows)-1]
		p.BeforeAt, p.BeforeID = &last.At, uuid.NullUUID{UUID: last.ID, Valid: true}
		if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
			rows, err = q.ListAuditEntries(ctx, p)
			return err
		}); err != nil {
			// Headers are sent: end the body early, and say so in the log.
			s.Log.Error("audit CSV export cut short", "creator", a.CreatorID, "err", err)
			return nil
		}
	}
}

func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// auditChannel names, as the target of channel.added, the channel package channels/setup
// inserts in the request's transaction: the newest of that type and name (ids are time-ordered
// UUIDv7s; a channel another request adds at the same moment commits in its own transaction).
func auditChannel(ctx context.Context, typ, name string) {
	auditDetail(ctx, "type", typ)
	auditDetail(ctx, "name", name)
	auditResolve(ctx, func(ctx context.Context, q *db.Queries) error {
		chs, err := q.ListChannels(ctx)
		if err != nil {
			return err
		}
		var newest uuid.UUID
		for _, ch := range chs {
			if ch.Type == typ && ch.Name == name && ch.ID.String() > newest.String() {
				newest = ch.ID
			}
		}
		if newest != uuid.Nil {
			auditTarget(ctx, newest)
		}
		return nil
	})
}

// auditUndone records that a change whose entry was already committed was undone by the same
// request in a later transaction (a Telegram channel is removed again when Telegram refuses its
// webhook): the log then shows both, the second as action with reason. Nothing when no entry
// was written (the change never committed).
func (s *Server) auditUndone(ctx context.Context, r *http.Request, a creatorAuth, action, reason string) {
	rec := recorderOf(ctx)
	if rec == nil {
		return
	}
	rec.mu.Lock()
	written, entry := rec.written, rec.entry
	rec.mu.Unlock()
	if !written {
		return
	}
	actx := s.auditFor(context.WithoutCancel(ctx), r, a.CreatorID, auditSpec{Action: action, Target: entry.TargetType, Always: true})
	auditActor(actx, entry.ActorType, entry.ActorID.UUID, entry.ActorLabel)
	auditTarget(actx, entry.TargetID)
	auditDetail(actx, "reason", reason)
	if err := s.Store.InTenant(actx, a.CreatorID, func(*db.Queries) error { return nil }); err != nil {
		s.Log.Error("audit: undone change not recorded", "action", action, "target", entry.TargetID, "err", err)
	}
}
