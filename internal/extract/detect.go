package extract

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
)

// HeadSize is how many leading bytes Detect wants to see (it works with
// fewer, less surely).
const HeadSize = 8 << 10

// Detect decides the format of a file from its first bytes (ideally
// HeadSize of them) and its total size. It never looks at a name or a
// declared content type. A zero size is ErrEmpty; anything that is not one
// of Formats is ErrUnsupported with what it looks like.
//
// For zip containers Detect only sees the local headers in head; use
// DetectReader, which also reads [Content_Types].xml or the EPUB mimetype
// entry from the central directory, when the whole file is at hand.
func Detect(head []byte, size int64) (Format, error) {
	if size == 0 || len(head) == 0 {
		return "", ErrEmpty
	}
	if len(head) > HeadSize {
		head = head[:HeadSize]
	}
	if pdfHeader(head) {
		return PDF, nil
	}
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		if f := zipKindFromLocalHeaders(head); f != "" {
			return f, nil
		}
		return "", fmt.Errorf("%w: a zip archive that is not a DOCX, PPTX or EPUB document", ErrUnsupported)
	}
	m := mimetype.Detect(head)
	switch {
	case m.Is("text/html"):
		return HTML, nil
	case strings.HasPrefix(m.String(), "text/") || m.Is("application/json") || m.Is("application/octet-stream"):
		// fall through to our own text checks
	default:
		return "", fmt.Errorf("%w: the content is %s, which coachwire cannot read", ErrUnsupported, describe(m))
	}
	text, ok := headText(head, int64(len(head)) < size)
	if !ok {
		return "", fmt.Errorf("%w: binary content (%s)", ErrUnsupported, describe(m))
	}
	if looksHTML(text) {
		return HTML, nil
	}
	if looksMarkdown(text) {
		return Markdown, nil
	}
	if looksCSV(text, int64(len(head)) < size) {
		return CSV, nil
	}
	return Text, nil
}

// DetectReader is Detect with the whole file at hand: zip containers are
// identified from [Content_Types].xml (DOCX, PPTX) or the mimetype entry
// (EPUB), read through the same caps as extraction.
func DetectReader(r io.ReaderAt, size int64) (Format, error) {
	if size == 0 {
		return "", ErrEmpty
	}
	head := make([]byte, min(size, HeadSize))
	n, err := r.ReadAt(head, 0)
	if n == 0 && err != nil {
		return "", fmt.Errorf("%w: read: %v", ErrCorrupt, err)
	}
	head = head[:n]
	if !bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return Detect(head, size)
	}
	z, err := openZip(r, size)
	if err != nil {
		return "", err
	}
	if f := z.find("mimetype"); f != nil {
		b, err := z.read(f, 256)
		if err == nil && strings.TrimSpace(string(b)) == "application/epub+zip" {
			return EPUB, nil
		}
	}
	if f := z.find("[Content_Types].xml"); f != nil {
		b, err := z.read(f, 1<<20)
		if err != nil {
			return "", err
		}
		s := string(b)
		switch {
		case strings.Contains(s, "wordprocessingml.document.main") || strings.Contains(s, "wordprocessingml.template.main"):
			return DOCX, nil
		case strings.Contains(s, "presentationml.presentation.main") || strings.Contains(s, "presentationml.slideshow.main"):
			return PPTX, nil
		case strings.Contains(s, "spreadsheetml"):
			return "", fmt.Errorf("%w: spreadsheets (XLSX) are not supported; export the sheet as CSV", ErrUnsupported)
		}
	}
	return "", fmt.Errorf("%w: a zip archive that is not a DOCX, PPTX or EPUB document", ErrUnsupported)
}

func describe(m *mimetype.MIME) string {
	s := m.String()
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	if s == "application/octet-stream" {
		return "unrecognised binary data"
	}
	return s
}

// pdfHeader: "%PDF-" within the first 1024 bytes (as readers accept).
func pdfHeader(head []byte) bool {
	h := head[:min(len(head), 1024)]
	return bytes.Contains(h, []byte("%PDF-"))
}

// zipKindFromLocalHeaders walks the local file headers visible in head.
func zipKindFromLocalHeaders(head []byte) Format {
	var sawContentTypes bool
	for off := 0; off+30 <= len(head); {
		if !bytes.Equal(head[off:off+4], []byte("PK\x03\x04")) {
			break
		}
		flags := binary.LittleEndian.Uint16(head[off+6:])
		method := binary.LittleEndian.Uint16(head[off+8:])
		csize := int(binary.LittleEndian.Uint32(head[off+18:]))
		nlen := int(binary.LittleEndian.Uint16(head[off+26:]))
		xlen := int(binary.LittleEndian.Uint16(head[off+28:]))
		if off+30+nlen > len(head) {
			break
		}
		name := string(head[off+30 : off+30+nlen])
		data := off + 30 + nlen + xlen
		switch {
		case name == "mimetype" && method == zip.Store && data+20 <= len(head) &&
			bytes.HasPrefix(head[data:], []byte("application/epub+zip")):
			return EPUB
		case strings.HasPrefix(name, "word/"):
			return DOCX
		case strings.HasPrefix(name, "ppt/"):
			return PPTX
		case name == "[Content_Types].xml":
			sawContentTypes = true
		}
		if flags&0x8 != 0 { // sizes in a data descriptor: find the next header
			i := bytes.Index(head[min(data, len(head)):], []byte("PK\x03\x04"))
			if i < 0 {
				break
			}
			off = data + i
			continue
		}
		off = data + csize
	}
	_ = sawContentTypes
	return ""
}

// headText decodes head as text: UTF-8 (a truncated final rune allowed when
// the head is cut), UTF-16 with a BOM, or Latin-1 when free of NULs and
// mostly printable. ok is false for binary data.
func headText(head []byte, truncated bool) (string, bool) {
	if s, ok := decodeUTF16BOM(head); ok {
		return s, true
	}
	b := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if bytes.IndexByte(b, 0) >= 0 {
		return "", false
	}
	if truncated {
		// drop a rune cut by the head boundary
		for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
			r, _ := utf8.DecodeLastRune(b)
			if r != utf8.RuneError {
				break
			}
			b = b[:len(b)-1]
		}
	}
	if utf8.Valid(b) {
		return string(b), controlRatioOK(string(b))
	}
	s := decodeLatin1(b)
	return s, controlRatioOK(s)
}

// controlRatioOK: at most 1% C0 control characters other than whitespace.
func controlRatioOK(s string) bool {
	var ctl, n int
	for _, r := range s {
		n++
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' && r != '\f' {
			ctl++
		}
	}
	return n == 0 || ctl*100 <= n
}

func looksHTML(s string) bool {
	t := strings.ToLower(strings.TrimSpace(s))
	if len(t) > 1024 {
		t = t[:1024]
	}
	for _, p := range []string{"<!doctype html", "<html", "<head", "<body"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// looksMarkdown: an ATX heading, a fenced code block, or at least two other
// Markdown signals (lists, links, emphasis, setext underline, block quote).
func looksMarkdown(s string) bool {
	signals := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64<<10), len(s)+1)
	prevText := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		t := strings.TrimLeft(line, " ")
		if len(line)-len(t) < 4 {
			switch {
			case atxLevel(t) > 0:
				return true
			case strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~"):
				return true
			case prevText && len(t) >= 3 && strings.Trim(t, "=") == "":
				signals += 2
			case strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") || strings.HasPrefix(t, "+ "):
				signals++
			case strings.HasPrefix(t, "> "):
				signals++
			}
		}
		if strings.Contains(line, "](") && strings.Contains(line, "[") {
			signals++
		}
		if strings.Contains(line, "**") || strings.Contains(line, "__") {
			signals++
		}
		prevText = t != ""
		if signals >= 2 {
			return true
		}
	}
	return false
}

// atxLevel returns 1–6 for an ATX heading line ("# x"), else 0.
func atxLevel(t string) int {
	n := 0
	for n < len(t) && t[n] == '#' {
		n++
	}
	if n == 0 || n > 6 {
		return 0
	}
	if n == len(t) || t[n] == ' ' || t[n] == '\t' {
		return n
	}
	return 0
}

// looksCSV: at least two records, every complete record with the same
// number (≥2) of fields for one of , ; or tab, and not prose (short
// fields on average).
func looksCSV(s string, truncated bool) bool {
	if truncated {
		if i := strings.LastIndexByte(s, '\n'); i > 0 {
			s = s[:i]
		}
	}
	for _, d := range []rune{',', ';', '\t'} {
		if strings.Count(s, string(d)) == 0 {
			continue
		}
		r := csv.NewReader(strings.NewReader(s))
		r.Comma = d
		r.FieldsPerRecord = 0
		r.LazyQuotes = true
		recs, fieldBytes, fields := 0, 0, 0
		ok := true
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				ok = false
				break
			}
			if len(rec) < 2 {
				ok = false
				break
			}
			recs++
			for _, f := range rec {
				fields++
				fieldBytes += len(f)
			}
		}
		if ok && recs >= 2 && fieldBytes/max(fields, 1) < 200 {
			return true
		}
	}
	return false
}
