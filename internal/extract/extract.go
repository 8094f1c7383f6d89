// Package extract turns an uploaded file into plain text with its structure:
// a Document of Sections, each with the heading it sits under and, for PDF
// pages and PPTX slides, the 1-based page number it came from.
//
// It is the only place in coachwire that parses untrusted document formats,
// so it is written to distrust its input:
//
//   - The format is decided from the bytes only (Detect, DetectReader). A
//     filename or a Content-Type header is never consulted: a PNG named
//     ".docx" is ErrUnsupported, a PDF named ".txt" is read as a PDF.
//   - No parser runs without limits. Input size (Limits.MaxBytes), output
//     text (Limits.MaxText), zip entry count, per-entry and total
//     uncompressed bytes and compression ratio are all capped; a zip bomb
//     fails with ErrTooLarge after reading a bounded number of bytes.
//   - The heavy formats (PDF, DOCX, PPTX, EPUB) are parsed in a child process
//     by default (ExtractIsolated, ExtractFile) with an address-space limit,
//     a GC memory limit, GOMAXPROCS=1 and a wall-clock timeout after which
//     the child's whole process group is killed. A parser that loops,
//     panics, crashes or runs out of memory costs one child, never the
//     worker. Every binary that calls ExtractIsolated must call MainIfChild
//     first thing in main() — and test binaries in TestMain — so the
//     re-executed binary becomes the extraction child.
//   - It never executes anything from a document (no macros, scripts,
//     external entities, remote resources) and never touches the network.
//
// Chunking is the caller's business. ToMarkdown renders a Document with
// "## Heading" lines for the Markdown-aware chunker in internal/ingest; a
// caller that needs page numbers for citations chunks each Section on its
// own and tags the chunks with Section.Page and Section.Heading.
package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coachwire/coachwire/internal/config"
)

// Format is a document format, decided from content.
type Format string

// The formats coachwire reads.
const (
	PDF      Format = "pdf"
	DOCX     Format = "docx"
	PPTX     Format = "pptx"
	EPUB     Format = "epub"
	HTML     Format = "html"
	Markdown Format = "markdown"
	Text     Format = "text"
	CSV      Format = "csv"
)

// Formats lists every supported format.
var Formats = []Format{PDF, DOCX, PPTX, EPUB, HTML, Markdown, Text, CSV}

// Isolated reports whether f is parsed in a child process by ExtractFile:
// the binary formats whose parsers are large and have a history of hangs
// and crashes on hostile input.
func (f Format) Isolated() bool {
	switch f {
	case PDF, DOCX, PPTX, EPUB:
		return true
	}
	return false
}

// Errors. Every error returned by this package wraps exactly one of them
// (or a context error when the caller's context ends), with a message a
// creator can read.
var (
	ErrEmpty       = errors.New("the file is empty")
	ErrUnsupported = errors.New("unsupported file type")
	ErrTooLarge    = errors.New("the file is too large")
	ErrCorrupt     = errors.New("the file is damaged or not readable")
	ErrTimeout     = errors.New("the file took too long to read")
	ErrNoText      = errors.New("the file contains no text")
)

// Document is the text of a file with its structure.
type Document struct {
	Format   Format    `json:"format"`
	Title    string    `json:"title,omitempty"`
	Sections []Section `json:"sections"`
}

// Section is a run of text under one heading (or one PDF page / PPTX slide).
type Section struct {
	// Heading is the heading the text sits under: HTML h1–h3, DOCX Heading
	// 1–3 / Title styles, Markdown #–###, EPUB chapter headings, PPTX slide
	// titles. Empty for text before the first heading and for PDF pages.
	Heading string `json:"heading,omitempty"`
	// Level is the heading's level (1 for H1/#/Heading 1) where the format says it; 0 when it
	// does not (HTML, slides, EPUB) or without a heading.
	Level int `json:"level,omitempty"`
	// Page is the 1-based PDF page or PPTX slide number; 0 for formats
	// without pages.
	Page int `json:"page,omitempty"`
	// Text is the cleaned text (see Clean), without the heading.
	Text string `json:"text"`
}

// Limits bound one extraction. Zero fields take the Default* values.
type Limits struct {
	MaxBytes    int64         // largest input file accepted
	MaxText     int64         // largest extracted text (sum of Section.Text)
	Timeout     time.Duration // wall clock for one extraction (child process only)
	MemoryBytes int64         // memory for the child process (address space above its start)
}

// Defaults for zero Limits fields.
const (
	DefaultMaxBytes    = 64 << 20
	DefaultMaxText     = 32 << 20
	DefaultTimeout     = config.DefaultExtractTimeout
	DefaultMemoryBytes = config.DefaultExtractMemory
)

// Caps on zip-based formats (DOCX, PPTX, EPUB), independent of Limits.
const (
	MaxZipEntries = 10000
	// MaxZipEntryBytes is the most one entry may inflate to.
	MaxZipEntryBytes = 64 << 20
	// MaxZipTotalBytes is the most all entries read may inflate to together.
	MaxZipTotalBytes = 256 << 20
	// MaxZipRatio is the largest uncompressed/compressed ratio tolerated once
	// an entry has inflated past zipRatioFloor bytes.
	MaxZipRatio   = 200
	zipRatioFloor = 1 << 20
)

// MaxCSVRows is the most data rows a CSV file may have.
const MaxCSVRows = 200000

// MaxPDFPages is the most pages a PDF may declare.
const MaxPDFPages = 10000

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxText <= 0 {
		l.MaxText = DefaultMaxText
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MemoryBytes <= 0 {
		l.MemoryBytes = DefaultMemoryBytes
	}
	return l
}

// Extract reads a document of format f in this process. It is meant for the
// light formats (text, Markdown, HTML, CSV), for the extraction child and for
// fuzzing; the heavy formats should go through ExtractIsolated, since a
// parser bug here takes the calling process down with it. lim.Timeout and
// lim.MemoryBytes are not enforced in-process (ctx is checked between
// sections); MaxBytes, MaxText and the zip caps are.
func Extract(ctx context.Context, r io.ReaderAt, size int64, f Format, lim Limits) (doc *Document, err error) {
	lim = lim.withDefaults()
	if size == 0 {
		return nil, ErrEmpty
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrCorrupt)
	}
	if size > lim.MaxBytes {
		return nil, tooLarge(size, lim.MaxBytes)
	}
	defer func() {
		if p := recover(); p != nil {
			doc, err = nil, fmt.Errorf("%w: the %s parser failed: %v", ErrCorrupt, f, p)
		}
	}()
	ex := extractorFor(f)
	if ex == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, string(f))
	}
	st := &state{ctx: ctx, lim: lim}
	doc, err = ex(st, r, size)
	if err != nil {
		return nil, err
	}
	doc.Format = f
	return finish(doc, lim)
}

type extractor func(st *state, r io.ReaderAt, size int64) (*Document, error)

// extraExtractors lets tests add formats (the child process of a test binary
// honours them too).
var extraExtractors map[Format]extractor

func extractorFor(f Format) extractor {
	switch f {
	case PDF:
		return extractPDF
	case DOCX:
		return extractDOCX
	case PPTX:
		return extractPPTX
	case EPUB:
		return extractEPUB
	case HTML:
		return extractHTMLFile
	case Markdown:
		return extractMarkdown
	case Text:
		return extractText
	case CSV:
		return extractCSV
	}
	return extraExtractors[f]
}

// state carries the limits through one extraction and counts output.
type state struct {
	ctx  context.Context
	lim  Limits
	text int64
}

// add accounts for n more bytes of output text.
func (s *state) add(n int) error {
	s.text += int64(n)
	if s.text > s.lim.MaxText {
		return fmt.Errorf("%w: more than %s of text", ErrTooLarge, human(s.lim.MaxText))
	}
	return nil
}

func (s *state) check() error {
	if s.ctx == nil {
		return nil
	}
	return s.ctx.Err()
}

// finish cleans every section, drops empty ones and enforces MaxText.
func finish(doc *Document, lim Limits) (*Document, error) {
	var total int64
	out := doc.Sections[:0]
	for _, s := range doc.Sections {
		s.Heading = cleanLine(s.Heading)
		s.Text = Clean(s.Text)
		if s.Text == "" && s.Heading == "" {
			continue
		}
		total += int64(len(s.Text) + len(s.Heading))
		if total > lim.MaxText {
			return nil, fmt.Errorf("%w: more than %s of text", ErrTooLarge, human(lim.MaxText))
		}
		out = append(out, s)
	}
	// The dropped sections past len(out) would keep the raw text (substrings of the file's
	// buffer) alive.
	clear(doc.Sections[len(out):])
	doc.Sections = out
	doc.Title = cleanLine(doc.Title)
	if len(out) == 0 {
		if doc.Format == PDF {
			return nil, fmt.Errorf("%w: the PDF has no text layer (scanned pages need OCR, which coachwire does not do)", ErrNoText)
		}
		return nil, ErrNoText
	}
	return doc, nil
}

// ToMarkdown renders doc for the Markdown-aware chunker: the title as
// "# Title", each heading as "## Heading", sections separated by blank
// lines. Page numbers are not rendered: a caller that cites pages chunks
// each Section separately instead.
func ToMarkdown(doc *Document) string {
	if doc == nil {
		return ""
	}
	var b strings.Builder
	if doc.Title != "" {
		b.WriteString("# ")
		b.WriteString(doc.Title)
		b.WriteString("\n\n")
	}
	for _, s := range doc.Sections {
		if s.Heading != "" {
			b.WriteString("## ")
			b.WriteString(s.Heading)
			b.WriteString("\n\n")
		} else if s.Page > 0 && doc.Format == PDF {
			fmt.Fprintf(&b, "## Page %d\n\n", s.Page)
		}
		if s.Text != "" {
			b.WriteString(s.Text)
			b.WriteString("\n\n")
		}
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// Text returns all section text of doc joined by blank lines (headings
// included as their own lines).
func (d *Document) Text() string {
	var parts []string
	for _, s := range d.Sections {
		if s.Heading != "" {
			parts = append(parts, s.Heading)
		}
		if s.Text != "" {
			parts = append(parts, s.Text)
		}
	}
	return strings.Join(parts, "\n\n")
}

func tooLarge(size, max int64) error {
	return fmt.Errorf("%w: %s is over the %s limit", ErrTooLarge, human(size), human(max))
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// readAll reads all of r (size bytes) into memory; callers have checked
// size against MaxBytes.
func readAll(r io.ReaderAt, size int64) ([]byte, error) {
	b := make([]byte, size)
	n, err := r.ReadAt(b, 0)
	if int64(n) == size {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("%w: read: %v", ErrCorrupt, err)
}

var _ = bytes.MinRead
