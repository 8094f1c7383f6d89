package knowledge

// The knowledge base's document rules, as the creator API applies them: chunking settings,
// identical content (one document per content), the per-creator storage quota, and what a
// replace may do. q runs in the creator's tenant.

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// Error is a request the document rules refuse. Kind says how (the API maps it to a status);
// Code is the machine-readable code the API answers with.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

// Kind is the class of an Error.
type Kind int

// Kinds of Error.
const (
	// Invalid: the request breaks a rule whatever the state (400).
	Invalid Kind = iota + 1
	// Conflict: the request does not fit the current state (409).
	Conflict
	// NotFound: the request names something the creator does not have (404).
	NotFound
	// TooLarge: the request would go over a size limit (413).
	TooLarge
)

func (e *Error) Error() string { return e.Message }

// NewDocument is a document's content as received, before it has a row.
type NewDocument struct {
	Title, Format, Body, Filename, SourceURL string
	// StorageKey names the stored original ("" for an inline body).
	StorageKey string
	Size       int64
	Hash       []byte
	// ChunkTokens 0 and ChunkOverlap -1 take the ingest defaults.
	ChunkTokens, ChunkOverlap int32
}

// CheckChunking checks a document's chunking settings (tokens 0: the defaults).
func CheckChunking(tokens, overlap int32) error {
	if tokens == 0 {
		return nil
	}
	if tokens < 50 || tokens > 8000 || overlap >= tokens/2 {
		return &Error{Kind: Invalid, Code: "bad_chunking", Message: "chunk_tokens must be 50..8000 and chunk_overlap below half of it"}
	}
	return nil
}

// checkQuota refuses content that would take the creator's documents over maxBytes; release is
// the size of what the content replaces.
func checkQuota(ctx context.Context, q *db.Queries, add, release, maxBytes int64) error {
	used, err := q.CreatorStorageBytes(ctx)
	if err != nil {
		return err
	}
	if used-release+add > maxBytes {
		return &Error{Kind: TooLarge, Code: "quota_exceeded",
			Message: fmt.Sprintf("your documents would use %d bytes, over your limit of %d bytes: delete documents first", used-release+add, maxBytes)}
	}
	return nil
}

// AddDocument stores a new document, within the creator's quota of maxBytes. When the creator
// already has a document with exactly this content, it is returned instead, with dup true
// (also when a concurrent identical upload wins the race).
func AddDocument(ctx context.Context, store *db.Store, creator uuid.UUID, n NewDocument, maxBytes int64) (d db.Document, dup bool, err error) {
	err = store.InTenant(ctx, creator, func(q *db.Queries) error {
		if existing, err := q.GetDocumentByHash(ctx, n.Hash); err == nil {
			d, dup = existing, true
			return nil
		} else if !db.IsNotFound(err) {
			return err
		}
		if err := checkQuota(ctx, q, n.Size, 0, maxBytes); err != nil {
			return err
		}
		var err error
		d, err = q.InsertDocument(ctx, db.InsertDocumentParams{ID: uuid.Must(uuid.NewV7()), CreatorID: creator, Title: n.Title,
			Format: n.Format, Body: n.Body, ContentHash: n.Hash, StorageKey: n.StorageKey, Filename: n.Filename, SizeBytes: n.Size,
			SourceUrl: n.SourceURL, ChunkTokens: n.ChunkTokens, ChunkOverlap: n.ChunkOverlap})
		return err
	})
	if db.IsUniqueViolation(err) {
		// A concurrent identical upload won the race: answer with its document.
		err = store.InTenant(ctx, creator, func(q *db.Queries) (err error) {
			d, err = q.GetDocumentByHash(ctx, n.Hash)
			dup = true
			return err
		})
	}
	return d, dup, err
}

// ReplaceDocument stores new content as the next version of document id, within the creator's
// quota of maxBytes (the old version's size is released). A document being deleted is not
// found. When the document already has exactly this content (a retried replace), it is
// returned with dup true and nothing changes; another document with this content is a
// conflict.
func ReplaceDocument(ctx context.Context, q *db.Queries, id uuid.UUID, n NewDocument, maxBytes int64) (d db.Document, dup bool, err error) {
	cur, err := q.GetDocumentForUpdate(ctx, id)
	if err != nil {
		return d, false, err
	}
	if cur.Status == "deleting" {
		return d, false, &Error{Kind: NotFound, Code: "not_found", Message: "document not found"}
	}
	if other, err := q.GetDocumentByHash(ctx, n.Hash); err == nil {
		if other.ID != id {
			return d, false, &Error{Kind: Conflict, Code: "duplicate_content",
				Message: "another document (" + other.ID.String() + ") has exactly this content"}
		}
		return other, true, nil
	} else if !db.IsNotFound(err) {
		return d, false, err
	}
	if err := checkQuota(ctx, q, n.Size, cur.SizeBytes, maxBytes); err != nil {
		return d, false, err
	}
	d, err = q.ReplaceDocumentContent(ctx, db.ReplaceDocumentContentParams{ID: id, Title: n.Title, Format: n.Format, Body: n.Body,
		ContentHash: n.Hash, StorageKey: n.StorageKey, Filename: n.Filename, SizeBytes: n.Size, SourceUrl: n.SourceURL})
	return d, false, err
}

// FilenameTitle is the title of a document uploaded without one: its file name without the
// extension, underscores and dashes as spaces ("Untitled document" when nothing is left). Ingest
// recognises it to replace it with the title the content gives (its H1, metadata or first
// heading).
func FilenameTitle(name string) string {
	if ext := path.Ext(name); ext != "" && len(ext) < len(name) {
		name = strings.TrimSuffix(name, ext)
	}
	name = strings.TrimSpace(strings.NewReplacer("_", " ", "-", " ").Replace(name))
	if name == "" {
		return "Untitled document"
	}
	return name
}
