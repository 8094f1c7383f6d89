package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
)

// Limits of the minimal knowledge API (the upload pipeline has its own).
const (
	maxDocumentChars = 512 << 10
	maxTitleChars    = 300
	maxPersonaChars  = 4000
	maxOrigins       = 50
)

type widgetSettings struct {
	Name             string   `json:"name"`
	Persona          string   `json:"persona"`
	AllowedOrigins   []string `json:"allowed_origins"`
	IdentityRequired bool     `json:"identity_required"`
	WidgetKey        string   `json:"widget_key,omitempty"`
	// IdentitySecret keys the user_hash HMAC; shown to the creator only, for their server.
	IdentitySecret string `json:"identity_secret,omitempty"`
}

func settingsOf(c db.Creator) widgetSettings {
	return widgetSettings{Name: c.Name, Persona: c.Persona, AllowedOrigins: c.AllowedOrigins,
		IdentityRequired: c.IdentityRequired, WidgetKey: c.WidgetKey, IdentitySecret: c.WidgetSecret}
}

func (s *Server) handleGetWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var c db.Creator
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		c, err = q.GetCreator(ctx, a.CreatorID)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsOf(c))
	return nil
}

func (s *Server) handlePutWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in widgetSettings
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if utf8.RuneCountInString(in.Persona) > maxPersonaChars {
		return errBadRequest("persona_too_long", "persona is limited to 4000 characters")
	}
	if len(in.AllowedOrigins) > maxOrigins {
		return errBadRequest("too_many_origins", "at most 50 allowed origins")
	}
	origins := make([]string, 0, len(in.AllowedOrigins))
	for _, o := range in.AllowedOrigins {
		if o == "*" {
			origins = append(origins, o)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return errBadRequest("bad_origin", "allowed origin "+strconv.Quote(o)+" must be scheme://host[:port]")
		}
		origins = append(origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	ctx := r.Context()
	var c db.Creator
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		c, err = q.UpdateWidgetSettings(ctx, db.UpdateWidgetSettingsParams{ID: a.CreatorID, Persona: in.Persona,
			AllowedOrigins: origins, IdentityRequired: in.IdentityRequired, Name: in.Name})
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsOf(c))
	return nil
}

type documentIn struct {
	Title   string `json:"title"`
	Content string `json:"content"`
	Format  string `json:"format"`
}

type documentOut struct {
	ID         uuid.UUID `json:"id"`
	Title      string    `json:"title"`
	Format     string    `json:"format"`
	Status     string    `json:"status"`
	Error      string    `json:"error,omitempty"`
	ChunkCount int32     `json:"chunk_count"`
	SearchMode string    `json:"search_mode,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func documentOf(d db.Document) documentOut {
	return documentOut{ID: d.ID, Title: d.Title, Format: d.Format, Status: d.Status, Error: d.Error,
		ChunkCount: d.ChunkCount, SearchMode: d.SearchMode, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// handleCreateDocument stores a text or Markdown document and queues it for indexing. The row
// is written first; the ingest event carries only its id and is re-published idempotently
// (Nats-Msg-Id = document id + version) if the client retries.
func (s *Server) handleCreateDocument(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in documentIn
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	in.Title = strings.TrimSpace(in.Title)
	switch {
	case in.Format == "":
		in.Format = "text"
	case in.Format != "text" && in.Format != "markdown":
		return errBadRequest("bad_format", "format must be text or markdown (file uploads: see the knowledge API)")
	}
	if in.Title == "" || utf8.RuneCountInString(in.Title) > maxTitleChars {
		return errBadRequest("bad_title", "title must be 1 to 300 characters")
	}
	if strings.TrimSpace(in.Content) == "" {
		return errBadRequest("empty_content", "content is empty")
	}
	if len(in.Content) > maxDocumentChars || !utf8.ValidString(in.Content) {
		return errBadRequest("bad_content", "content must be valid UTF-8 of at most 512 KiB")
	}
	ctx := r.Context()
	var d db.Document
	id := uuid.Must(uuid.NewV7())
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		d, err = q.InsertDocument(ctx, db.InsertDocumentParams{ID: id, CreatorID: a.CreatorID, Title: in.Title, Format: in.Format, Body: in.Content})
		return err
	}); err != nil {
		return err
	}
	ev := events.New(a.CreatorID, events.DocumentIngest{DocumentID: d.ID, Action: events.IngestIndex, Version: d.Version}, nil, s.Now())
	if err := bus.PublishEvent(ctx, s.Bus, events.IngestSubject(a.CreatorID), "ingest:"+d.ID.String()+":"+strconv.Itoa(int(d.Version)), ev); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, documentOf(d))
	return nil
}

func (s *Server) handleListDocuments(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var docs []db.Document
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		docs, err = q.ListDocuments(ctx, 500)
		return err
	}); err != nil {
		return err
	}
	out := make([]documentOut, 0, len(docs))
	for _, d := range docs {
		out = append(out, documentOf(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"documents": out})
	return nil
}

func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, errNotFound(name)
	}
	return id, nil
}

func (s *Server) handleGetDocument(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var d db.Document
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		d, err = q.GetDocument(ctx, id)
		return err
	}); err != nil {
		if db.IsNotFound(err) {
			return errNotFound("document")
		}
		return err
	}
	writeJSON(w, http.StatusOK, documentOf(d))
	return nil
}

type conversationOut struct {
	ID             uuid.UUID `json:"id"`
	EndUserID      uuid.UUID `json:"end_user_id"`
	Channel        string    `json:"channel"`
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"created_at"`
	LastActivityAt time.Time `json:"last_activity_at"`
}

func (s *Server) handleListConversations(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var convs []db.Conversation
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		convs, err = q.ListConversations(ctx, 200)
		return err
	}); err != nil {
		return err
	}
	out := make([]conversationOut, 0, len(convs))
	for _, c := range convs {
		out = append(out, conversationOut{ID: c.ID, EndUserID: c.EndUserID, Channel: c.Channel, Status: c.Status, CreatedAt: c.CreatedAt, LastActivityAt: c.LastActivityAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": out})
	return nil
}

type messageOut struct {
	ID        uuid.UUID       `json:"id"`
	Seq       int64           `json:"seq"`
	Role      string          `json:"role"`
	Text      string          `json:"text"`
	Sources   json.RawMessage `json:"sources"`
	Status    string          `json:"status"`
	ReplyTo   *uuid.UUID      `json:"reply_to,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

func (s *Server) handleListMessages(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after_seq"), 10, 64)
	ctx := r.Context()
	var msgs []db.Message
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetConversation(ctx, id); err != nil {
			return err
		}
		var err error
		msgs, err = q.MessagesAfter(ctx, db.MessagesAfterParams{ConversationID: id, Seq: after, Limit: 500})
		return err
	}); err != nil {
		if db.IsNotFound(err) {
			return errNotFound("conversation")
		}
		return err
	}
	out := make([]messageOut, 0, len(msgs))
	for _, m := range msgs {
		mo := messageOut{ID: m.ID, Seq: m.Seq, Role: m.Role, Text: m.Body, Sources: m.Sources, Status: m.Status, CreatedAt: m.CreatedAt}
		if m.ReplyTo.Valid {
			mo.ReplyTo = &m.ReplyTo.UUID
		}
		out = append(out, mo)
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
	return nil
}
