package extract

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func fuzzLimits() Limits { return Limits{MaxBytes: 1 << 20, MaxText: 1 << 20} }

// checkFuzzErr: every failure wraps one of the package's errors.
func checkFuzzErr(t *testing.T, err error) {
	if err == nil {
		return
	}
	for _, e := range []error{ErrEmpty, ErrUnsupported, ErrTooLarge, ErrCorrupt, ErrNoText} {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("error wraps no package error: %v", err)
}

func seed(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(readTD(f, n))
	}
}

func FuzzDetect(f *testing.F) {
	for name, b := range testdataFiles() {
		_ = name
		f.Add(b)
	}
	f.Add([]byte("a,b\n1,2\n"))
	f.Add([]byte("\xff\xfeh\x00i\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fm, err := Detect(b, int64(len(b)))
		if err == nil && fm == "" || err != nil && fm != "" {
			t.Fatalf("Detect = %q, %v", fm, err)
		}
		checkFuzzErr(t, err)
		if len(b) > 0 && errors.Is(err, ErrEmpty) {
			t.Fatal("non-empty input reported empty")
		}
		_, err = DetectReader(bytes.NewReader(b), int64(len(b)))
		checkFuzzErr(t, err)
	})
}

func fuzzExtract(f *testing.F, fm Format) {
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Extract(context.Background(), bytes.NewReader(b), int64(len(b)), fm, fuzzLimits())
		checkFuzzErr(t, err)
		if err == nil {
			var n int
			for _, s := range doc.Sections {
				n += len(s.Text)
			}
			if int64(n) > fuzzLimits().MaxText {
				t.Fatalf("%d bytes of text over the limit", n)
			}
		}
	})
}

func FuzzExtractText(f *testing.F) {
	seed(f, "sample.txt", "sample.md", "latin1.txt")
	f.Add([]byte("# a\n```\n# b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fm := range []Format{Text, Markdown} {
			_, err := Extract(context.Background(), bytes.NewReader(b), int64(len(b)), fm, fuzzLimits())
			checkFuzzErr(t, err)
		}
		if s := Clean(string(b)); Clean(s) != s {
			t.Fatalf("Clean not idempotent on %q", b)
		}
	})
}

func FuzzExtractHTML(f *testing.F) {
	seed(f, "sample.html")
	f.Add([]byte("<h1>a<li>b<pre>c"))
	fuzzExtract(f, HTML)
}

func FuzzExtractCSV(f *testing.F) {
	seed(f, "sample.csv")
	f.Add([]byte("a;b\n\"x\";\"y\"\"\n"))
	fuzzExtract(f, CSV)
}

func FuzzExtractDOCX(f *testing.F) {
	seed(f, "sample.docx", "sample.pptx", "sample.epub", "hostile/zipbomb.docx")
	fuzzExtract(f, DOCX)
}
