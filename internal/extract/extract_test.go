package extract

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func td(name string) string { return filepath.Join("testdata", filepath.FromSlash(name)) }

func readTD(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(td(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDetect(t *testing.T) {
	cases := []struct {
		file string
		want Format
		err  error
	}{
		{"sample.pdf", PDF, nil},
		{"sample.docx", DOCX, nil},
		{"sample.pptx", PPTX, nil},
		{"sample.epub", EPUB, nil},
		{"sample.html", HTML, nil},
		{"sample.md", Markdown, nil},
		{"sample.txt", Text, nil},
		{"latin1.txt", Text, nil},
		{"sample.csv", CSV, nil},
		{"hostile/pdf-named.txt", PDF, nil},
		{"hostile/image-named.docx", "", ErrUnsupported},
		{"hostile/empty.txt", "", ErrEmpty},
		{"hostile/zipbomb.docx", DOCX, nil}, // detected; rejected at extraction
	}
	for _, c := range cases {
		b := readTD(t, c.file)
		got, err := Detect(b[:min(len(b), HeadSize)], int64(len(b)))
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("Detect(%s) = %q, %v; want %q, %v", c.file, got, err, c.want, c.err)
		}
		got2, err2 := DetectReader(bytes.NewReader(b), int64(len(b)))
		if got2 != c.want || !errors.Is(err2, c.err) {
			t.Errorf("DetectReader(%s) = %q, %v; want %q, %v", c.file, got2, err2, c.want, c.err)
		}
	}
	_, err := Detect(readTD(t, "hostile/image-named.docx"), 67)
	if err == nil || !strings.Contains(err.Error(), "image/png") {
		t.Errorf("PNG error should name what it is: %v", err)
	}
	// Binary junk and a plain zip are unsupported.
	for _, b := range [][]byte{{0, 1, 2, 3, 0xff, 0xfe, 0, 0, 7}, buildZip([]zipEntry{{"a.txt", "hello"}}, false)} {
		if _, err := Detect(b, int64(len(b))); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Detect(%q) err = %v, want ErrUnsupported", b[:4], err)
		}
	}
}

func extractFile(t *testing.T, name string) *Document {
	t.Helper()
	doc, err := ExtractFile(context.Background(), td(name), Limits{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("ExtractFile(%s): %v", name, err)
	}
	return doc
}

func headings(doc *Document) []string {
	var h []string
	for _, s := range doc.Sections {
		if s.Heading != "" {
			h = append(h, s.Heading)
		}
	}
	return h
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s: missing %q in:\n%s", what, sub, s)
		}
	}
}

func mustNotContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			t.Errorf("%s: unexpected %q in:\n%s", what, sub, s)
		}
	}
}

func TestExtractPDF(t *testing.T) {
	doc := extractFile(t, "sample.pdf") // through the child process
	if doc.Format != PDF || doc.Title != "Interval Training" || len(doc.Sections) != 2 {
		t.Fatalf("doc = %+v", doc)
	}
	if doc.Sections[0].Page != 1 || doc.Sections[1].Page != 2 {
		t.Errorf("pages = %d, %d", doc.Sections[0].Page, doc.Sections[1].Page)
	}
	mustContain(t, "page 1", doc.Sections[0].Text, "Intervals alternate hard efforts with easy recovery.", "the ability to change pace.")
	mustContain(t, "page 2", doc.Sections[1].Text, "Long runs build aerobic endurance.\nKeep the pace conversational.")
	// the same file named .txt is still a PDF
	doc2 := extractFile(t, "hostile/pdf-named.txt")
	if doc2.Format != PDF || doc2.Text() != doc.Text() {
		t.Errorf("pdf-named.txt: %+v", doc2)
	}
}

func TestExtractDOCX(t *testing.T) {
	doc := extractFile(t, "sample.docx")
	if doc.Format != DOCX || doc.Title != "Morning Routines" {
		t.Errorf("format/title = %q %q", doc.Format, doc.Title)
	}
	want := []string{"Morning Routines for Runners", "Warm-up", "Hydration", "Cool-down"}
	if got := headings(doc); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("headings = %q, want %q", got, want)
	}
	all := doc.Text()
	mustContain(t, "docx", all, "brisk walking & leg swings", "Then jog slowly for ten minutes.", "Drink 500 ml", "Distance", "Pace", "thirty seconds")
	for _, s := range doc.Sections {
		if s.Heading == "Hydration" {
			mustContain(t, "hydration section", s.Text, "Drink 500 ml of water")
		}
		if s.Page != 0 {
			t.Errorf("docx section has page %d", s.Page)
		}
	}
}

func TestExtractPPTX(t *testing.T) {
	doc := extractFile(t, "sample.pptx")
	if doc.Title != "Strength Training 101" || len(doc.Sections) != 3 {
		t.Fatalf("doc = %+v", doc)
	}
	want := []struct {
		h    string
		page int
		text string
	}{
		{"Why strength matters", 1, "Stronger muscles protect joints\nTwo sessions a week are enough"},
		{"The big three lifts", 2, "Squat, deadlift and bench press"},
		{"Recovery", 3, "Sleep at least eight hours\nDeload every fourth week"},
	}
	for i, w := range want {
		s := doc.Sections[i]
		if s.Heading != w.h || s.Page != w.page || s.Text != w.text {
			t.Errorf("slide %d = %+v, want %+v", i+1, s, w)
		}
	}
}

func TestExtractEPUB(t *testing.T) {
	doc := extractFile(t, "sample.epub")
	if doc.Title != "The Patient Coach" {
		t.Errorf("title %q", doc.Title)
	}
	want := []string{"Listening First", "Setting Goals"} // spine order, not file order
	if got := headings(doc); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("headings = %q, want %q", got, want)
	}
	mustContain(t, "epub", doc.Text(), "A patient coach asks before advising.", "Goals should be specific and measurable.")
	mustNotContain(t, "epub", doc.Text(), "Contents") // nav is linear="no"
}

func TestExtractHTML(t *testing.T) {
	doc := extractFile(t, "sample.html")
	if doc.Format != HTML || doc.Title != "Nutrition Basics" {
		t.Errorf("format/title = %q %q", doc.Format, doc.Title)
	}
	want := []string{"Eating for Endurance", "Before the race", "Timing"}
	if got := headings(doc); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("headings = %q, want %q", got, want)
	}
	all := doc.Text()
	mustContain(t, "html", all, "Carbohydrates fuel long efforts; aim for steady intake.", "- Eat a familiar breakfast\n- Avoid new foods", "A note", "Caffeine helps")
	mustNotContain(t, "html", all, "secret", "tracking", "About us", "color: red")
}

func TestExtractMarkdown(t *testing.T) {
	doc := extractFile(t, "sample.md")
	if doc.Title != "Sleep Guide" {
		t.Errorf("title %q", doc.Title)
	}
	want := []string{"Sleep Hygiene", "The bedroom", "Naps"}
	if got := headings(doc); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("headings = %q, want %q", got, want)
	}
	if doc.Sections[0].Heading != "" || doc.Sections[0].Text != "Intro paragraph before any heading." {
		t.Errorf("intro = %+v", doc.Sections[0])
	}
	mustContain(t, "md", doc.Text(), "# not a heading inside code", "#### A small heading stays in the text", "twenty minutes")
	md := ToMarkdown(doc)
	mustContain(t, "ToMarkdown", md, "# Sleep Guide\n\n", "## Sleep Hygiene\n\nKeep a regular", "## Naps\n\nShort naps")
}

func TestExtractTextAndCSV(t *testing.T) {
	doc := extractFile(t, "sample.txt")
	if got := doc.Sections[0].Text; got != "Coaching notes\n\nAlways ask how the client slept. Then plan the session.\n\nReview progress every four weeks." {
		t.Errorf("text = %q", got)
	}
	doc = extractFile(t, "latin1.txt")
	if got := doc.Sections[0].Text; got != "Café crème: naïve résumé" {
		t.Errorf("latin1 = %q", got)
	}
	doc = extractFile(t, "sample.csv")
	mustContain(t, "csv", doc.Sections[0].Text,
		"exercise: Squat\nsets: 5\nreps: 5\nnotes: Keep the chest up, knees out\n\nexercise: Deadlift",
		"exercise: Plank\nsets: 3\nreps: 60 s")
}

func TestToMarkdownPages(t *testing.T) {
	doc := &Document{Format: PDF, Title: "T", Sections: []Section{{Page: 1, Text: "a"}, {Page: 2, Text: "b"}}}
	if got := ToMarkdown(doc); got != "# T\n\n## Page 1\n\na\n\n## Page 2\n\nb\n" {
		t.Errorf("ToMarkdown = %q", got)
	}
}

func TestClean(t *testing.T) {
	cases := map[string]string{
		"a  b\t\tc  ":                       "a b c",
		"line1\r\nline2\rline3":             "line1\nline2\nline3",
		"x\n\n\n\n\ny":                      "x\n\ny",
		"\n\n  \n start\n":                  " start",
		"infor-\nmation is key":             "information is key",
		"well-\nKnown":                      "well-\nKnown",
		"a\x00b\x07c\u200bd\ufeffe":         "abcde",
		"non\u00a0breaking":                 "non breaking",
		"bad \xff utf8":                     "bad utf8",
		"  indented\n    more":              "  indented\n    more",
		"end of hyphen-":                    "end of hyphen-",
		"co-\noperate and co-\n\nparagraph": "cooperate and co-\n\nparagraph",
	}
	for in, want := range cases {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// ---- hostile files ----

func hostileLimits() Limits {
	return Limits{Timeout: 3 * time.Second, MemoryBytes: 512 << 20}
}

func TestHostileZipBomb(t *testing.T) {
	// in-process: fails with ErrTooLarge after a bounded read, without
	// allocating the 24 MiB the entry inflates to
	b := readTD(t, "hostile/zipbomb.docx")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Extract(context.Background(), bytes.NewReader(b), int64(len(b)), DOCX, Limits{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "zip bomb") {
		t.Fatalf("in-process err = %v, want ErrTooLarge (zip bomb)", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("the bomb allocated %d bytes", alloc)
	}
	// isolated, via content detection
	_, err = ExtractFile(context.Background(), td("hostile/zipbomb.docx"), hostileLimits())
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("isolated err = %v, want ErrTooLarge", err)
	}
	t.Logf("zip bomb: %v", err)
	// an honest bomb (declared size huge) is refused before inflating
	hb := buildHonestBombDOCX(70 << 20)
	if _, err := Extract(context.Background(), bytes.NewReader(hb), int64(len(hb)), DOCX, Limits{}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "inflates to 70") {
		t.Errorf("declared bomb: %v, want ErrTooLarge for its declared 70 MiB", err)
	}
}

func TestHostileTruncatedPDF(t *testing.T) {
	_, err := ExtractFile(context.Background(), td("hostile/truncated.pdf"), hostileLimits())
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	t.Logf("truncated PDF: %v", err)
}

func TestHostileLoopPDF(t *testing.T) {
	lim := hostileLimits()
	lim.Timeout = 2 * time.Second
	start := time.Now()
	_, err := ExtractFile(context.Background(), td("hostile/loop.pdf"), lim)
	took := time.Since(start)
	// The page tree is walked once with bounds: the cycle is refused as damaged (before, the
	// library's page lookup looped until the timeout killed the child; TestChildFailureModes
	// covers the timeout itself).
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "page tree is cyclic") {
		t.Fatalf("err = %v, want ErrCorrupt for a cyclic page tree", err)
	}
	if took > lim.Timeout+3*time.Second {
		t.Errorf("took %s with a %s timeout", took, lim.Timeout)
	}
	t.Logf("loop PDF: %v after %s", err, took.Round(time.Millisecond))
	// the parent still works
	if doc := extractFile(t, "sample.pdf"); len(doc.Sections) != 2 {
		t.Errorf("after the loop: %+v", doc)
	}
}

func TestHostileEmptyAndMisleading(t *testing.T) {
	if _, err := ExtractFile(context.Background(), td("hostile/empty.txt"), Limits{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	if _, err := ExtractIsolated(context.Background(), td("hostile/empty.txt"), Text, Limits{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty isolated: %v", err)
	}
	_, err := ExtractFile(context.Background(), td("hostile/image-named.docx"), Limits{})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("png named docx: %v", err)
	}
	// Forcing the wrong format makes the parser fail cleanly, not crash.
	if _, err := ExtractIsolated(context.Background(), td("hostile/image-named.docx"), DOCX, hostileLimits()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("png as docx: %v", err)
	}
}

func TestHostileOversize(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.md")
	if err := os.WriteFile(p, bytes.Repeat([]byte("# big\n\nwords words words\n"), 50000), 0o644); err != nil {
		t.Fatal(err)
	}
	lim := Limits{MaxBytes: 1 << 20}
	if _, err := ExtractFile(context.Background(), p, lim); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize input: %v", err)
	}
	if _, err := ExtractIsolated(context.Background(), p, Markdown, lim); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize isolated: %v", err)
	}
	// output cap
	if _, err := ExtractFile(context.Background(), p, Limits{MaxText: 100 << 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize text: %v", err)
	}
	b := []byte("a,b\n" + strings.Repeat("1,2\n", MaxCSVRows+1))
	if _, err := Extract(context.Background(), bytes.NewReader(b), int64(len(b)), CSV, Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("csv rows: %v", err)
	}
}

func TestChildFailureModes(t *testing.T) {
	p := td("sample.txt")
	lim := Limits{Timeout: 2 * time.Second, MemoryBytes: 256 << 20}
	start := time.Now()
	_, err := ExtractIsolated(context.Background(), p, testSpin, lim)
	if !errors.Is(err, ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Errorf("spin: %v after %s", err, time.Since(start))
	}
	_, err = ExtractIsolated(context.Background(), p, testCrash, lim)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "nil map") {
		t.Errorf("crash: %v", err)
	}
	_, err = ExtractIsolated(context.Background(), p, testPanic, lim)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "parser bug") {
		t.Errorf("panic: %v", err)
	}
	_, err = ExtractIsolated(context.Background(), p, Format("nope"), lim)
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown format: %v", err)
	}
	// caller cancellation is not a timeout
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = ExtractIsolated(ctx, p, testSpin, lim)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Errorf("cancel: %v", err)
	}
	if raceEnabled {
		t.Log("skipping the out-of-memory child: no address-space limit under -race")
		return
	}
	start = time.Now()
	_, err = ExtractIsolated(context.Background(), p, testOOM, Limits{Timeout: 20 * time.Second, MemoryBytes: 256 << 20})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "memory") {
		t.Errorf("oom: %v", err)
	}
	t.Logf("oom: %v after %s", err, time.Since(start).Round(time.Millisecond))
}
