package gateway

// The workspace export (GET /api/v1/export): everything a workspace holds, for an owner or an
// admin to keep or to move elsewhere, as one ZIP streamed while it is read.
//
//	manifest.json        what the archive is: workspace, time, format version, files and counts
//	workspace.json       settings: profile and widget, send policy, channels (no credentials),
//	                     members (no passwords), API keys (names, prefixes and roles, no secrets)
//	documents.ndjson     documents' metadata (not their text or files)
//	end_users.ndjson     end users, each with their tags, consent and memory profile
//	conversations.ndjson conversations (who, channel, status, activity)
//	messages.ndjson      every message (text, role, status, sources), by conversation_id and seq
//	campaigns.ndjson     campaigns (audience, content, schedule)
//	programs.ndjson      programs (steps)
//
// Every table is read in keyset pages, each page in its own tenant transaction (row security
// plus creator_id in every query: never another workspace's rows), so no transaction or pooled
// connection is held while a slow client downloads. The archive is therefore not one snapshot:
// rows written during the export may or may not be in it. An error after the first byte cannot
// change the status any more: the stream is cut before the ZIP's central directory, so the
// client gets an archive that does not open rather than one that silently lacks rows.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// exportPage is how many rows one page (and one transaction) of the export reads (a test makes
// it small to cross page boundaries).
var exportPage = func() *atomic.Int32 {
	var n atomic.Int32
	n.Store(500)
	return &n
}()

// exportFormat names the archive's layout in its manifest; bump it when the layout changes.
const exportFormat = "coachwire-workspace-export/1"

type exportFile struct {
	Name string `json:"name"`
	Rows int    `json:"rows"`
}

type exportManifest struct {
	Format      string       `json:"format"`
	WorkspaceID uuid.UUID    `json:"workspace_id"`
	ExportedAt  time.Time    `json:"exported_at"`
	ExportedBy  string       `json:"exported_by"`
	Files       []exportFile `json:"files"`
}

// exporter writes one archive.
type exporter struct {
	s     *Server
	ctx   context.Context
	a     creatorAuth
	zw    *zip.Writer
	files []exportFile
	// size is the page size (exportPage when the export began).
	size int32
}

// tx runs fn in one tenant transaction of the workspace.
func (e *exporter) tx(fn func(q *db.Queries) error) error {
	return e.s.Store.InTenant(e.ctx, e.a.CreatorID, fn)
}

// file adds name to the archive and has write fill it through put (one JSON value per line).
func (e *exporter) file(name string, write func(put func(v any) error) error) error {
	f, err := e.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: e.s.Now().UTC()})
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	rows := 0
	if err := write(func(v any) error { rows++; return enc.Encode(v) }); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	e.files = append(e.files, exportFile{Name: name, Rows: rows})
	return bw.Flush()
}

// pages reads a table page by page (fetch answers the rows after the given id) and puts each row.
func pages[R any](e *exporter, put func(v any) error, fetch func(q *db.Queries, after uuid.UUID) ([]R, error),
	id func(R) uuid.UUID, out func(q *db.Queries, rows []R) ([]any, error)) error {
	size := int(e.size)
	after := uuid.Nil
	for {
		var vs []any
		var rows []R
		err := e.tx(func(q *db.Queries) error {
			var err error
			if rows, err = fetch(q, after); err != nil || len(rows) == 0 {
				return err
			}
			vs, err = out(q, rows)
			return err
		})
		if err != nil {
			return err
		}
		for _, v := range vs {
			if err := put(v); err != nil {
				return err
			}
		}
		if len(rows) < size {
			return nil
		}
		after = id(rows[len(rows)-1])
	}
}

// each turns a page's rows into what is written, one by one.
func each[R any](f func(R) any) func(*db.Queries, []R) ([]any, error) {
	return func(_ *db.Queries, rows []R) ([]any, error) {
		vs := make([]any, len(rows))
		for i, r := range rows {
			vs[i] = f(r)
		}
		return vs, nil
	}
}

// handleExport streams the workspace's ZIP (see the top of this file).
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	// Read the settings before the first byte, so a failure there is still a proper error.
	var settings map[string]any
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		var err error
		settings, err = s.exportSettings(ctx, q, a)
		return err
	})
	if err != nil {
		return orNotFound(err, "creator")
	}
	now := s.Now().UTC()
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="coachwire-export-%s.zip"`, now.Format("20060102-150405")))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	e := &exporter{s: s, ctx: ctx, a: a, zw: zip.NewWriter(w), size: exportPage.Load()}
	if err := e.write(settings); err != nil {
		// Too late for an error answer: cut the stream so the archive is visibly broken.
		s.Log.Error("workspace export failed", "creator", a.CreatorID, "err", err)
		panic(http.ErrAbortHandler)
	}
	s.Log.Info("workspace exported", "creator", a.CreatorID, "by", exportedBy(a), "files", e.files)
	return nil
}

func (e *exporter) write(settings map[string]any) error {
	cid, size := e.a.CreatorID, e.size
	if err := e.file("workspace.json", func(put func(any) error) error { return put(settings) }); err != nil {
		return err
	}
	err := e.file("documents.ndjson", func(put func(any) error) error {
		return pages(e, put, func(q *db.Queries, after uuid.UUID) ([]db.ExportDocumentsRow, error) {
			return q.ExportDocuments(e.ctx, db.ExportDocumentsParams{CreatorID: cid, After: after, PageSize: size})
		}, func(d db.ExportDocumentsRow) uuid.UUID { return d.ID }, each(func(d db.ExportDocumentsRow) any { return d }))
	})
	if err != nil {
		return err
	}
	err = e.file("end_users.ndjson", func(put func(any) error) error {
		return pages(e, put, func(q *db.Queries, after uuid.UUID) ([]db.EndUser, error) {
			return q.ExportEndUsers(e.ctx, db.ExportEndUsersParams{CreatorID: cid, After: after, PageSize: size})
		}, func(u db.EndUser) uuid.UUID { return u.ID }, e.endUsers)
	})
	if err != nil {
		return err
	}
	err = e.file("conversations.ndjson", func(put func(any) error) error {
		return pages(e, put, func(q *db.Queries, after uuid.UUID) ([]db.Conversation, error) {
			return q.ExportConversations(e.ctx, db.ExportConversationsParams{CreatorID: cid, After: after, PageSize: size})
		}, func(c db.Conversation) uuid.UUID { return c.ID }, each(func(c db.Conversation) any { return workspaceConversation(c) }))
	})
	if err != nil {
		return err
	}
	err = e.file("campaigns.ndjson", func(put func(any) error) error {
		return pages(e, put, func(q *db.Queries, after uuid.UUID) ([]db.Campaign, error) {
			return q.ExportCampaigns(e.ctx, db.ExportCampaignsParams{CreatorID: cid, After: after, PageSize: size})
		}, func(c db.Campaign) uuid.UUID { return c.ID }, each(func(c db.Campaign) any {
			return map[string]any{"id": c.ID, "name": c.Name, "status": c.Status, "audience": c.Audience, "content": c.Content,
				"schedule": c.Schedule, "created_at": c.CreatedAt.UTC(), "updated_at": c.UpdatedAt.UTC()}
		}))
	})
	if err != nil {
		return err
	}
	err = e.file("programs.ndjson", func(put func(any) error) error {
		return pages(e, put, func(q *db.Queries, after uuid.UUID) ([]db.Program, error) {
			return q.ExportPrograms(e.ctx, db.ExportProgramsParams{CreatorID: cid, After: after, PageSize: size})
		}, func(p db.Program) uuid.UUID { return p.ID }, each(func(p db.Program) any {
			return map[string]any{"id": p.ID, "name": p.Name, "keyword": p.Keyword, "status": p.Status, "steps": p.Steps,
				"created_at": p.CreatedAt.UTC(), "updated_at": p.UpdatedAt.UTC(), "paused_at": utcPtr(p.PausedAt)}
		}))
	})
	if err != nil {
		return err
	}
	if err := e.file("messages.ndjson", e.messages); err != nil {
		return err
	}
	m := exportManifest{Format: exportFormat, WorkspaceID: cid, ExportedAt: e.s.Now().UTC(), ExportedBy: exportedBy(e.a), Files: e.files}
	if err := e.file("manifest.json", func(put func(any) error) error { return put(m) }); err != nil {
		return err
	}
	return e.zw.Close()
}

// exportedBy names who asked: "user:<id>" or "api_key:<id>".
func exportedBy(a creatorAuth) string {
	if a.person() {
		return "user:" + a.UserID.String()
	}
	return "api_key:" + a.KeyID.String()
}

// endUsers writes a page of end users with their memory profiles.
func (e *exporter) endUsers(q *db.Queries, rows []db.EndUser) ([]any, error) {
	ids := make([]uuid.UUID, len(rows))
	for i, u := range rows {
		ids[i] = u.ID
	}
	mem, err := q.ExportEndUserMemory(e.ctx, db.ExportEndUserMemoryParams{CreatorID: e.a.CreatorID, EndUserIds: ids})
	if err != nil {
		return nil, err
	}
	profiles := make(map[uuid.UUID]json.RawMessage, len(mem))
	for _, m := range mem {
		profiles[m.EndUserID] = m.Profile
	}
	vs := make([]any, len(rows))
	for i, u := range rows {
		tags := u.Tags
		if tags == nil {
			tags = []string{}
		}
		v := map[string]any{"id": u.ID, "channel": u.Channel, "external_id": u.ExternalID, "display_name": u.DisplayName,
			"language": u.Language, "timezone": u.Timezone, "verified": u.Verified, "tags": tags,
			"opted_out_at": utcPtr(u.OptedOutAt), "created_at": u.CreatedAt.UTC(), "last_seen_at": u.LastSeenAt.UTC(),
			"last_inbound_at": utcPtr(u.LastInboundAt), "memory": nil}
		if u.ChannelID.Valid {
			v["channel_id"] = u.ChannelID.UUID
		}
		if p, ok := profiles[u.ID]; ok {
			v["memory"] = p
		}
		vs[i] = v
	}
	return vs, nil
}

func workspaceConversation(c db.Conversation) any {
	v := map[string]any{"id": c.ID, "end_user_id": c.EndUserID, "channel": c.Channel, "status": c.Status,
		"created_at": c.CreatedAt.UTC(), "last_activity_at": c.LastActivityAt.UTC(), "last_seq": c.LastSeq}
	if c.ChannelID.Valid {
		v["channel_id"] = c.ChannelID.UUID
	}
	return v
}

// messages writes every conversation's messages, conversation by conversation in id order and
// each conversation's in seq order, one keyset page of the workspace's messages per
// transaction (never a transaction per conversation).
func (e *exporter) messages(put func(any) error) error {
	cid, size := e.a.CreatorID, e.size
	afterConv, afterSeq := uuid.Nil, int64(-1)
	for {
		var ms []db.ExportMessagesRow
		err := e.tx(func(q *db.Queries) error {
			var err error
			ms, err = q.ExportMessages(e.ctx, db.ExportMessagesParams{CreatorID: cid, AfterConversation: afterConv, AfterSeq: afterSeq, PageSize: size})
			return err
		})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := put(exportMessage(m)); err != nil {
				return err
			}
		}
		if len(ms) < int(size) {
			return nil
		}
		last := ms[len(ms)-1]
		afterConv, afterSeq = last.ConversationID, last.Seq
	}
}

func exportMessage(m db.ExportMessagesRow) any {
	v := map[string]any{"id": m.ID, "conversation_id": m.ConversationID, "seq": m.Seq, "role": m.Role, "text": m.Body,
		"channel": m.Channel, "status": m.Status, "created_at": m.CreatedAt.UTC()}
	if len(bytes.TrimSpace(m.Sources)) > 0 && !bytes.Equal(bytes.TrimSpace(m.Sources), []byte("null")) {
		v["sources"] = m.Sources
	}
	if m.Error != "" {
		v["error"] = m.Error
	}
	if m.AnsweredBy.Valid {
		v["answered_by"] = m.AnsweredBy.UUID
	}
	return v
}

// exportSettings reads workspace.json: the workspace's settings, channels without their
// credentials, members without their passwords and API keys without their secrets.
func (s *Server) exportSettings(ctx context.Context, q *db.Queries, a creatorAuth) (map[string]any, error) {
	c, err := q.GetCreator(ctx, a.CreatorID)
	if err != nil {
		return nil, err
	}
	p, err := q.GetCreatorPolicy(ctx, a.CreatorID)
	if err != nil {
		return nil, err
	}
	chs, err := q.ListChannels(ctx)
	if err != nil {
		return nil, err
	}
	channels := make([]any, 0, len(chs))
	for _, ch := range chs {
		out, err := s.channelOf(ch)
		if err != nil {
			return nil, err
		}
		channels = append(channels, out)
	}
	ms, err := q.ListMembers(ctx, a.CreatorID)
	if err != nil {
		return nil, err
	}
	ps, err := q.MemberProfiles(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]db.MemberProfilesRow, len(ps))
	for _, p := range ps {
		byID[p.ID] = p
	}
	members := make([]memberOut, 0, len(ms))
	for _, m := range ms {
		members = append(members, toMemberOut(m, db.MemberProfileRow(byID[m.UserID])))
	}
	ks, err := q.ListAPIKeys(ctx, a.CreatorID)
	if err != nil {
		return nil, err
	}
	keys := make([]apiKeyOut, 0, len(ks))
	for _, k := range ks {
		keys = append(keys, toAPIKeyOut(k))
	}
	origins, suggestions := c.AllowedOrigins, c.WidgetSuggestions
	if origins == nil {
		origins = []string{}
	}
	if suggestions == nil {
		suggestions = []string{}
	}
	return map[string]any{
		"workspace": map[string]any{"id": c.ID, "name": c.Name, "email": c.Email, "created_at": c.CreatedAt.UTC()},
		"coach": map[string]any{"persona": c.Persona, "allowed_origins": origins, "identity_required": c.IdentityRequired,
			"widget_key": c.WidgetKey, "avatar_url": c.WidgetAvatarUrl, "welcome": c.WidgetWelcome, "suggestions": suggestions,
			"branding": c.WidgetBranding, "link_sources": c.WidgetLinkSources},
		"knowledge":   map[string]any{"chunk_tokens": c.ChunkTokens, "chunk_overlap": c.ChunkOverlap},
		"send_policy": policyOf(p),
		"channels":    channels,
		"members":     members,
		"api_keys":    keys,
	}, nil
}
