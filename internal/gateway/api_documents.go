package gateway

// The knowledge API: upload (JSON text, multipart files, URL import), list and filter, live
// state (SSE), replace, delete and reindex. The gateway stores the original and the row and
// publishes an ingest event; the ingest target does the rest.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/storage"
)

// Limits of the JSON document API (file uploads have their own, in config.Knowledge).
const (
	maxDocumentChars = 512 << 10
	maxTitleChars    = 300
	maxFilenameBytes = 255
	maxFormField     = 4 << 10
	// sseHeartbeat is how often an idle event stream gets a comment line.
	sseHeartbeat  = 15 * time.Second
	importTimeout = 30 * time.Second
	maxRedirects  = 3
)

type documentIn struct {
	Title        string `json:"title"`
	Content      string `json:"content"`
	Format       string `json:"format"`
	ChunkTokens  int32  `json:"chunk_tokens"`
	ChunkOverlap *int32 `json:"chunk_overlap"`
}

type documentOut struct {
	ID          uuid.UUID `json:"id"`
	Title       string    `json:"title"`
	Format      string    `json:"format"`
	Status      string    `json:"status"`
	Error       string    `json:"error,omitempty"`
	Version     int32     `json:"version"`
	ChunkCount  int32     `json:"chunk_count"`
	ChunksDone  int32     `json:"chunks_done"`
	SearchMode  string    `json:"search_mode,omitempty"`
	Filename    string    `json:"filename,omitempty"`
	SizeBytes   int64     `json:"size_bytes"`
	SourceURL   string    `json:"source_url,omitempty"`
	ContentHash string    `json:"content_hash,omitempty"`
	Duplicate   bool      `json:"duplicate,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func documentOf(d db.Document) documentOut {
	return documentOut{ID: d.ID, Title: d.Title, Format: d.Format, Status: d.Status, Error: d.Error, Version: d.Version,
		ChunkCount: d.ChunkCount, ChunksDone: d.ChunksDone, SearchMode: d.SearchMode, Filename: d.Filename,
		SizeBytes: d.SizeBytes, SourceURL: d.SourceUrl, ContentHash: hex.EncodeToString(d.ContentHash),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// newContent is a document's content as received, before it has a row.
type newContent struct {
	title, format, body, filename, sourceURL string
	storageKey                               uuid.UUID // uuid.Nil: inline body, no file
	size                                     int64
	hash                                     []byte
	chunkTokens, chunkOverlap                int32
}

func (c *newContent) key() string {
	if c.storageKey == uuid.Nil {
		return ""
	}
	return c.storageKey.String()
}

// document is the content as the document rules (package knowledge) take it.
func (c *newContent) document() knowledge.NewDocument {
	return knowledge.NewDocument{Title: c.title, Format: c.format, Body: c.body, Filename: c.filename, SourceURL: c.sourceURL,
		StorageKey: c.key(), Size: c.size, Hash: c.hash, ChunkTokens: c.chunkTokens, ChunkOverlap: c.chunkOverlap}
}

// discard removes the stored original of content that did not become (part of) a document.
func (s *Server) discard(creator uuid.UUID, c *newContent) {
	if c.storageKey == uuid.Nil {
		return
	}
	_ = s.Files.Delete(creator, c.storageKey)
}

func errTooLarge(code, msg string) error { return &apiError{Status: 413, Code: code, Message: msg} }

func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// handleCreateDocument adds a document: a JSON text/Markdown body or a multipart file upload.
// The row is written first; the ingest event carries only its id. An identical re-upload
// answers 200 with the existing document and "duplicate": true; while that document is still
// "queued" the event is re-published first, idempotently (Nats-Msg-Id = document id + version),
// so a client retrying an upload answered 503 (NATS down after the row was stored) never gets a
// 2xx for a document nothing will index. A dependency outage answers 503 with Retry-After.
func (s *Server) handleCreateDocument(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var (
		c   *newContent
		err error
	)
	if isMultipart(r) {
		c, err = s.receiveMultipart(w, r, a.CreatorID, true)
	} else {
		c, err = s.receiveJSON(w, r, true)
	}
	if err != nil {
		return err
	}
	return s.createDocument(w, r, a, c)
}

func (s *Server) createDocument(w http.ResponseWriter, r *http.Request, a creatorAuth, c *newContent) error {
	ctx := r.Context()
	auditResolve(ctx, func(ctx context.Context, q *db.Queries) error {
		if d, err := q.GetDocumentByHash(ctx, c.hash); err == nil {
			auditTarget(ctx, d.ID)
			auditDetail(ctx, "title", d.Title)
		}
		return nil
	})
	d, dup, err := knowledge.AddDocument(ctx, s.Store, a.CreatorID, c.document(), s.Config.MaxCreatorBytes)
	if err != nil || dup {
		s.discard(a.CreatorID, c)
	}
	if err != nil {
		return err
	}
	if dup && d.Status == "queued" {
		// The document may be the one an earlier attempt stored and then failed to publish (NATS
		// down: that attempt was answered 503). Publish its ingest event again, with the same
		// Nats-Msg-Id as the first publish: JetStream drops it if the first one did arrive, and an
		// ingest run that finds the document past "queued" or at another version ignores it.
		// Only then is the upload acknowledged: every 2xx means the document's event is stored.
		if err := s.publishIngest(ctx, a.CreatorID, d, events.IngestIndex); err != nil {
			return err
		}
	}
	if dup {
		out := documentOf(d)
		out.Duplicate = true
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	if err := s.publishIngest(ctx, a.CreatorID, d, events.IngestIndex); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, documentOf(d))
	return nil
}

func (s *Server) publishIngest(ctx context.Context, creator uuid.UUID, d db.Document, action string) error {
	ev := events.New(creator, events.DocumentIngest{DocumentID: d.ID, Action: action, Version: d.Version}, nil, s.Now())
	id := "ingest:" + d.ID.String() + ":" + strconv.Itoa(int(d.Version))
	if action == events.IngestDelete {
		id = "delete:" + d.ID.String() + ":" + strconv.Itoa(int(d.Version))
	}
	return bus.PublishEvent(ctx, s.Bus, events.IngestSubject(creator), id, ev)
}

// receiveJSON reads a JSON text or Markdown document. For a replace (create false) the title is
// optional.
func (s *Server) receiveJSON(w http.ResponseWriter, r *http.Request, create bool) (*newContent, error) {
	var in documentIn
	if err := readJSON(w, r, &in); err != nil {
		return nil, err
	}
	in.Title = strings.TrimSpace(in.Title)
	switch {
	case in.Format == "":
		in.Format = "text"
	case in.Format != "text" && in.Format != "markdown":
		return nil, errBadRequest("bad_format", "format must be text or markdown (other formats: upload the file as multipart/form-data)")
	}
	if create && in.Title == "" {
		return nil, errBadRequest("bad_title", "title is required")
	}
	if err := limitTitle.field("bad_title", "title", in.Title); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Content) == "" {
		return nil, errBadRequest("empty_content", "content is empty")
	}
	if err := limitDocument.field("bad_content", "content", in.Content); err != nil {
		return nil, err
	}
	overlap := int32(-1)
	if in.ChunkOverlap != nil {
		if *in.ChunkOverlap < 0 {
			return nil, errBadRequest("bad_chunking", "chunk_overlap must not be negative")
		}
		overlap = *in.ChunkOverlap
	}
	if err := knowledge.CheckChunking(in.ChunkTokens, overlap); err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(in.Content))
	return &newContent{title: in.Title, format: in.Format, body: in.Content, size: int64(len(in.Content)), hash: h[:],
		chunkTokens: in.ChunkTokens, chunkOverlap: overlap}, nil
}

// receiveMultipart streams the "file" part to storage (within the per-file limit) and reads the
// optional "title", "chunk_tokens" and "chunk_overlap" fields. The format comes from the
// content only.
func (s *Server) receiveMultipart(w http.ResponseWriter, r *http.Request, creator uuid.UUID, create bool) (c *newContent, err error) {
	maxUpload := s.Config.MaxUploadBytes
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errBadRequest("bad_multipart", "malformed multipart body: "+err.Error())
	}
	files := s.Files
	c = &newContent{chunkOverlap: -1}
	defer func() {
		if err != nil {
			s.discard(creator, c)
		}
	}()
	tooBig := errTooLarge("file_too_large", fmt.Sprintf("the file is larger than the limit of %d bytes", maxUpload))
	gotFile := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return c, tooBig
			}
			return c, errBadRequest("bad_multipart", "malformed multipart body: "+err.Error())
		}
		switch p.FormName() {
		case "file":
			if gotFile {
				return c, errBadRequest("one_file", "send one file per request")
			}
			gotFile = true
			c.filename = sanitizeFilename(p.FileName())
			c.storageKey = uuid.New()
			body := &clientReader{r: p}
			info, err := files.Put(creator, c.storageKey, body, maxUpload)
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.Is(err, storage.ErrTooLarge) || errors.As(err, &mbe) {
					c.storageKey = uuid.Nil
					return c, tooBig
				}
				if body.err != nil {
					// The client's body broke off (or was not valid multipart): its fault, not
					// an outage of ours.
					c.storageKey = uuid.Nil
					return c, errBadRequest("bad_multipart", "the upload ended before the file was complete: "+body.err.Error())
				}
				return c, err
			}
			c.size, c.hash = info.Size, info.SHA256[:]
		case "title", "chunk_tokens", "chunk_overlap":
			b, err := io.ReadAll(io.LimitReader(p, maxFormField+1))
			if err != nil || len(b) > maxFormField {
				return c, errBadRequest("bad_field", p.FormName()+" is too long")
			}
			v := strings.TrimSpace(string(b))
			switch p.FormName() {
			case "title":
				if err := limitTitle.field("bad_title", "title", v); err != nil {
					return c, err
				}
				c.title = v
			case "chunk_tokens", "chunk_overlap":
				n, err := strconv.ParseInt(v, 10, 32)
				if err != nil || n < 0 {
					return c, errBadRequest("bad_chunking", p.FormName()+" must be an integer, 0 or more")
				}
				if p.FormName() == "chunk_tokens" {
					c.chunkTokens = int32(n)
				} else {
					c.chunkOverlap = int32(n)
				}
			}
		default:
			_, _ = io.Copy(io.Discard, io.LimitReader(p, maxFormField))
		}
	}
	if !gotFile {
		return c, errBadRequest("missing_file", `multipart upload needs a "file" part`)
	}
	if err := knowledge.CheckChunking(c.chunkTokens, c.chunkOverlap); err != nil {
		return c, err
	}
	if err := s.detect(files, creator, c); err != nil {
		return c, err
	}
	if c.title == "" && create {
		c.title = titleFromFilename(c.filename)
	}
	return c, nil
}

// detect decides the stored file's format from its content.
func (s *Server) detect(files *storage.Dir, creator uuid.UUID, c *newContent) error {
	f, err := files.Open(creator, c.storageKey)
	if err != nil {
		return err
	}
	defer f.Close()
	format, err := extract.DetectReader(f, c.size)
	switch {
	case errors.Is(err, extract.ErrEmpty):
		return errBadRequest("empty_file", "the file is empty")
	case errors.Is(err, extract.ErrUnsupported):
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_type",
			Message: err.Error() + " (supported: PDF, DOCX, PPTX, EPUB, HTML, Markdown, plain text, CSV)"}
	case err != nil:
		return errBadRequest("unreadable_file", err.Error())
	}
	c.format = string(format)
	return nil
}

// sanitizeFilename keeps a user's filename as a display name only: the last path element,
// without control characters, at most 255 bytes. It is never used in a path.
func sanitizeFilename(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(path.Clean("/" + name))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	name = strings.TrimSpace(name)
	if name == "/" || name == "." || name == ".." || strings.Trim(name, ".") == "" {
		return ""
	}
	for len(name) > maxFilenameBytes {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	return name
}

func titleFromFilename(name string) string {
	name = knowledge.FilenameTitle(name)
	if utf8.RuneCountInString(name) > maxTitleChars {
		name = string([]rune(name)[:maxTitleChars])
	}
	return name
}

// handleImportDocument fetches a public web page (or file) by URL and adds it like an upload.
func (s *Server) handleImportDocument(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in struct {
		URL   string `json:"url"`
		Title string `json:"title"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	in.URL = strings.TrimSpace(in.URL)
	if err := limitURL.field("bad_url", "url", in.URL); err != nil {
		return err
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errBadRequest("bad_url", "url must be an http or https URL")
	}
	in.Title = strings.TrimSpace(in.Title)
	if err := limitTitle.field("bad_title", "title", in.Title); err != nil {
		return err
	}
	c, err := s.fetchURL(r.Context(), a.CreatorID, u)
	if err != nil {
		return err
	}
	c.title = in.Title
	if c.title == "" {
		c.title = titleFromFilename(c.filename)
		if c.filename == "" {
			c.title = u.Hostname()
		}
	}
	return s.createDocument(w, r, a, c)
}

// errBlockedAddress is a dial to an address that is not public.
var errBlockedAddress = errors.New("address is not public")

// blockedAddr reports whether ip is not a public unicast address: loopback, private,
// link-local, CGNAT, unspecified, multicast, documentation and other special ranges.
func blockedAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range specialPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

var specialPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "2001:db8::/32", "2002::/16", "fec0::/10"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// importClient fetches imports: every connection (the first and each redirect's) is checked
// after DNS resolution, so a name that resolves to a private address is refused.
func (s *Server) importClient() *http.Client {
	allowPrivate := s.Config.ImportAllowPrivate
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: %s", errBlockedAddress, host)
		}
		if !allowPrivate && blockedAddr(ip) {
			return fmt.Errorf("%w: %s", errBlockedAddress, ip)
		}
		return nil
	}}
	tr := &http.Transport{
		Proxy: nil, DialContext: dialer.DialContext, TLSHandshakeTimeout: 10 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second, MaxResponseHeaderBytes: 64 << 10, DisableKeepAlives: true,
	}
	return &http.Client{Transport: tr, Timeout: importTimeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to a %s URL", req.URL.Scheme)
		}
		return nil
	}}
}

func (s *Server) fetchURL(ctx context.Context, creator uuid.UUID, u *url.URL) (c *newContent, err error) {
	maxUpload := s.Config.MaxUploadBytes
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errBadRequest("bad_url", err.Error())
	}
	req.Header.Set("User-Agent", "coachwire-import/1")
	resp, err := s.importClient().Do(req)
	if err != nil {
		if errors.Is(err, errBlockedAddress) {
			return nil, errBadRequest("blocked_address", "the URL leads to an address that is not public: "+u.Hostname())
		}
		return nil, errBadRequest("fetch_failed", "could not fetch the URL: "+err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, errBadRequest("fetch_failed", fmt.Sprintf("the URL answered %s", resp.Status))
	}
	files := s.Files
	c = &newContent{chunkOverlap: -1, sourceURL: resp.Request.URL.String(), storageKey: uuid.New()}
	c.filename = sanitizeFilename(path.Base(resp.Request.URL.Path))
	if c.filename == "/" {
		c.filename = ""
	}
	info, err := files.Put(creator, c.storageKey, resp.Body, maxUpload)
	if err != nil {
		c.storageKey = uuid.Nil
		if errors.Is(err, storage.ErrTooLarge) {
			return nil, errTooLarge("file_too_large", fmt.Sprintf("the page is larger than the limit of %d bytes", maxUpload))
		}
		return nil, errBadRequest("fetch_failed", "could not read the page: "+err.Error())
	}
	c.size, c.hash = info.Size, info.SHA256[:]
	if err := s.detect(files, creator, c); err != nil {
		s.discard(creator, c)
		return nil, err
	}
	return c, nil
}

var documentStatuses = []string{"queued", "extracting", "chunking", "embedding", "indexed", "failed", "deleting"}

// handleListDocuments lists the creator's documents, newest first, with optional filters
// ?status=, ?format=, ?q= (title contains) and pagination ?limit= (1..200, default 50) &offset=.
func (s *Server) handleListDocuments(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	qs := r.URL.Query()
	var p db.FilterDocumentsParams
	opt := func(name string) *string {
		if v := strings.TrimSpace(qs.Get(name)); v != "" {
			return &v
		}
		return nil
	}
	p.Status, p.Format, p.Query = opt("status"), opt("format"), opt("q")
	if p.Status != nil && !contains(documentStatuses, *p.Status) {
		return errBadRequest("bad_status", "status must be one of "+strings.Join(documentStatuses, ", "))
	}
	if p.Format != nil && !contains(formatNames(), *p.Format) {
		return errBadRequest("bad_format", "format must be one of "+strings.Join(formatNames(), ", "))
	}
	if p.Query != nil {
		if err := limitSearch.field("bad_query", "q", *p.Query); err != nil {
			return err
		}
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(*p.Query)
		p.Query = &esc
	}
	p.Lim = 50
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return errBadRequest("bad_limit", "limit must be 1..200")
		}
		p.Lim = int32(n)
	}
	if v := qs.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			return errBadRequest("bad_offset", "offset must be a non-negative integer")
		}
		p.Off = int32(n)
	}
	ctx := r.Context()
	lim := p.Lim
	p.Lim++ // one more tells whether there is a next page
	var docs []db.Document
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		docs, err = q.FilterDocuments(ctx, p)
		return err
	}); err != nil {
		return err
	}
	out := make([]documentOut, 0, len(docs))
	for i, d := range docs {
		if i == int(lim) {
			break
		}
		out = append(out, documentOf(d))
	}
	resp := map[string]any{"documents": out}
	if len(docs) > int(lim) {
		resp["next_offset"] = int(p.Off) + int(lim)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func formatNames() []string {
	out := make([]string, 0, len(extract.Formats))
	for _, f := range extract.Formats {
		out = append(out, string(f))
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
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
		return orNotFound(err, "document")
	}
	writeJSON(w, http.StatusOK, documentOf(d))
	return nil
}

// handleReplaceDocument stores a new version of a document (multipart file or JSON text): the
// version is bumped, the new original replaces the old one and the document is reindexed; the
// ingest target drops chunks the new version no longer has.
func (s *Server) handleReplaceDocument(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var old db.Document
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		old, err = q.GetDocument(ctx, id)
		return err
	}); err != nil {
		return orNotFound(err, "document")
	}
	var c *newContent
	if isMultipart(r) {
		c, err = s.receiveMultipart(w, r, a.CreatorID, false)
	} else {
		c, err = s.receiveJSON(w, r, false)
	}
	if err != nil {
		return err
	}
	if c.title == "" {
		c.title = old.Title
	}
	var (
		d   db.Document
		dup bool
	)
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		d, dup, err = knowledge.ReplaceDocument(ctx, q, id, c.document(), s.Config.MaxCreatorBytes)
		return err
	})
	if err != nil || dup {
		s.discard(a.CreatorID, c)
	}
	if err != nil {
		if db.IsNotFound(err) {
			return errNotFound("document")
		}
		return err
	}
	if dup {
		// A retried replace whose first attempt stored the version and was answered 503:
		// publish that version's event again (same Nats-Msg-Id) as createDocument does.
		if d.Status == "queued" {
			if err := s.publishIngest(ctx, a.CreatorID, d, events.IngestIndex); err != nil {
				return err
			}
		}
		out := documentOf(d)
		out.Duplicate = true
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	if oldKey, err := uuid.Parse(old.StorageKey); err == nil && old.StorageKey != d.StorageKey {
		_ = s.Files.Delete(a.CreatorID, oldKey)
	}
	if err := s.publishIngest(ctx, a.CreatorID, d, events.IngestIndex); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, documentOf(d))
	return nil
}

// handleDeleteDocument marks the document deleting and asks ingest to remove its chunks and
// row; the original file is removed at once.
func (s *Server) handleDeleteDocument(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var d db.Document
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		d, err = q.MarkDocumentDeleting(ctx, id)
		return err
	}); err != nil {
		return orNotFound(err, "document")
	}
	if err := s.publishIngest(ctx, a.CreatorID, d, events.IngestDelete); err != nil {
		return err
	}
	if key, err := uuid.Parse(d.StorageKey); err == nil {
		_ = s.Files.Delete(a.CreatorID, key)
	}
	writeJSON(w, http.StatusAccepted, documentOf(d))
	return nil
}

func (s *Server) handleReindexDocument(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var d db.Document
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		d, err = q.RequeueDocument(ctx, id)
		return err
	}); err != nil {
		return orNotFound(err, "document")
	}
	if err := s.publishIngest(ctx, a.CreatorID, d, events.IngestIndex); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, documentOf(d))
	return nil
}

func (s *Server) handleReindexAll(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var docs []db.Document
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		docs, err = q.RequeueAllDocuments(ctx)
		return err
	}); err != nil {
		return err
	}
	for _, d := range docs {
		if err := s.publishIngest(ctx, a.CreatorID, d, events.IngestIndex); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"queued": len(docs)})
	return nil
}

// documentEvent is one SSE data payload.
type documentEvent struct {
	DocumentID uuid.UUID `json:"document_id"`
	Status     string    `json:"status"`
	Chunks     int       `json:"chunks"`
	Error      string    `json:"error,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
}

// handleDocumentEvents streams the creator's document state changes as server-sent events
// (event: document), subscribed on core NATS to cw.<creator>.knowledge only. A comment line is
// sent first (the subscription is live from then on) and every 15 s while idle.
func (s *Server) handleDocumentEvents(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	msgs := make(chan *nats.Msg, 256)
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	sub, err := s.Bus.Listen(lctx, events.KnowledgeSubject(a.CreatorID), msgs)
	cancel()
	if err != nil {
		return err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": connected\n\n") {
		return nil
	}
	tick := time.NewTicker(sseHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if !s.stillAllowed(ctx, a) || !write(": ping\n\n") {
				return nil // removed, demoted or revoked since the stream opened; or gone
			}
		case m := <-msgs:
			ev, err := events.Decode[events.DocumentState](m.Data)
			if err != nil || ev.CreatorID != a.CreatorID {
				continue
			}
			b, _ := json.Marshal(documentEvent{DocumentID: ev.Data.DocumentID, Status: ev.Data.Status, Chunks: ev.Data.Chunks,
				Error: ev.Data.Error, OccurredAt: ev.OccurredAt})
			if !write("id: " + ev.ID.String() + "\nevent: document\ndata: " + string(b) + "\n\n") {
				return nil
			}
		}
	}
}

// clientReader remembers the error reading the client's body gave, so that a body that broke
// off is told apart from a storage failure.
type clientReader struct {
	r   io.Reader
	err error
}

func (c *clientReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
