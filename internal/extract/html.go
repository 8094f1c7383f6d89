package extract

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

func extractHTMLFile(st *state, r io.ReaderAt, size int64) (*Document, error) {
	b, err := readAll(r, size)
	if err != nil {
		return nil, err
	}
	return extractHTMLBytes(st, b)
}

func extractHTMLBytes(st *state, b []byte) (*Document, error) {
	s := decodeText(b)
	root, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("%w: HTML: %v", ErrCorrupt, err)
	}
	w := &htmlWalker{st: st}
	w.walk(root, 0)
	if w.err != nil {
		return nil, w.err
	}
	w.flush("")
	doc := &Document{Title: w.title, Sections: w.sections}
	if doc.Title == "" {
		doc.Title = w.firstH1
	}
	return doc, nil
}

// htmlWalker collects sections from a parsed HTML tree: h1–h3 start a
// section, block elements end a paragraph, list items get "- ", pre keeps
// its line breaks; script, style, nav and other non-content elements are
// dropped.
type htmlWalker struct {
	st       *state
	title    string
	firstH1  string
	sections []Section
	heading  string
	buf      bytes.Buffer
	err      error
	nodes    int
}

// maxHTMLDepth stops pathological nesting (the parser itself caps at 512).
const maxHTMLDepth = 1000

func (w *htmlWalker) walk(n *html.Node, depth int) {
	if w.err != nil || depth > maxHTMLDepth {
		return
	}
	w.nodes++
	if w.nodes%4096 == 0 {
		if err := w.st.check(); err != nil {
			w.err = err
			return
		}
	}
	switch n.Type {
	case html.TextNode:
		w.text(n.Data, false)
		return
	case html.ElementNode:
		switch n.DataAtom {
		case atom.Script, atom.Style, atom.Nav, atom.Noscript, atom.Template, atom.Svg, atom.Math,
			atom.Iframe, atom.Object, atom.Embed, atom.Canvas, atom.Button, atom.Select, atom.Form:
			return
		case atom.Title:
			if w.title == "" {
				w.title = textOf(n)
			}
			return
		case atom.Head:
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.DataAtom == atom.Title {
					w.walk(c, depth+1)
				}
			}
			return
		case atom.H1, atom.H2, atom.H3:
			h := cleanLine(textOf(n))
			if n.DataAtom == atom.H1 && w.firstH1 == "" {
				w.firstH1 = h
			}
			if h != "" {
				w.flush(h)
			}
			return
		case atom.Br:
			w.buf.WriteByte('\n')
			return
		case atom.Pre:
			w.block()
			w.text(textOf(n), true)
			w.block()
			return
		case atom.Li:
			if b := w.buf.Bytes(); len(b) > 0 && b[len(b)-1] != '\n' {
				w.buf.WriteByte('\n')
			}
			w.buf.WriteString("- ")
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				w.walk(c, depth+1)
			}
			w.buf.WriteByte('\n')
			return
		case atom.Td, atom.Th:
			w.buf.WriteString(" | ")
		case atom.Img:
			for _, a := range n.Attr {
				if a.Key == "alt" && strings.TrimSpace(a.Val) != "" {
					w.text(" "+a.Val+" ", false)
				}
			}
			return
		}
		if isBlock(n.DataAtom) {
			w.block()
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c, depth+1)
	}
	if n.Type == html.ElementNode && isBlock(n.DataAtom) {
		w.block()
	}
}

func (w *htmlWalker) text(s string, pre bool) {
	if !pre {
		lead := s != "" && isHTMLSpace(s[0])
		trail := s != "" && isHTMLSpace(s[len(s)-1])
		s = strings.Join(strings.Fields(s), " ")
		if s == "" {
			if lead && w.buf.Len() > 0 {
				w.buf.WriteByte(' ')
			}
			return
		}
		if lead {
			s = " " + s
		}
		if trail {
			s += " "
		}
	}
	if err := w.st.add(len(s)); err != nil {
		w.err = err
		return
	}
	w.buf.WriteString(s)
}

func isHTMLSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' }

func (w *htmlWalker) block() {
	if b := w.buf.Bytes(); len(b) > 0 && !bytes.HasSuffix(b, []byte("\n\n")) {
		w.buf.WriteString("\n\n")
	}
}

// flush ends the current section and starts one under heading.
func (w *htmlWalker) flush(heading string) {
	w.sections = append(w.sections, Section{Heading: w.heading, Text: w.buf.String()})
	w.buf.Reset()
	w.heading = heading
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node, int)
	rec = func(n *html.Node, d int) {
		if d > maxHTMLDepth {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			return
		}
		if n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style) {
			return
		}
		if n.DataAtom == atom.Br {
			b.WriteByte('\n')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c, d+1)
		}
	}
	rec(n, 0)
	return b.String()
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Section, atom.Article, atom.Main, atom.Header, atom.Footer, atom.Aside,
		atom.Ul, atom.Ol, atom.Dl, atom.Dt, atom.Dd, atom.Table, atom.Tr, atom.Thead, atom.Tbody,
		atom.Blockquote, atom.H4, atom.H5, atom.H6, atom.Hr, atom.Figure, atom.Figcaption, atom.Address,
		atom.Body, atom.Html, atom.Caption, atom.Details, atom.Summary:
		return true
	}
	return false
}
