package events

import "github.com/google/uuid"

// Type names of the knowledge events.
const (
	TypeDocumentIngest = "document.ingest.v1"
	TypeDocumentState  = "document.state.v1"
)

// Ingest actions.
const (
	IngestIndex  = "index"
	IngestDelete = "delete"
)

// DocumentIngest asks ingest to (re)index or delete a document.
type DocumentIngest struct {
	DocumentID uuid.UUID `json:"document_id"`
	Action     string    `json:"action"`
	Version    int32     `json:"version"`
}

func (DocumentIngest) EventType() string { return TypeDocumentIngest }

// DocumentState reports a document's lifecycle step.
type DocumentState struct {
	DocumentID uuid.UUID `json:"document_id"`
	Status     string    `json:"status"`
	Chunks     int       `json:"chunks"`
	Error      string    `json:"error,omitempty"`
}

func (DocumentState) EventType() string { return TypeDocumentState }
