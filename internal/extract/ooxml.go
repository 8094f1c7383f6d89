package extract

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// xmlDecoder: encoding/xml never loads external entities or DTDs; only the
// five predefined entities are known.
func xmlDecoder(b []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		return in, nil // OOXML and EPUB are UTF-8 in practice; bytes are sanitised later
	}
	return d
}

func attr(se xml.StartElement, local string) string {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// relID is the r:id attribute (relationships namespace), not the plain id.
func relID(se xml.StartElement) string {
	for _, a := range se.Attr {
		if a.Name.Local == "id" && strings.Contains(a.Name.Space, "relationships") {
			return a.Value
		}
	}
	return ""
}

func xmlErr(part string, err error) error {
	if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, part, err)
}

// coreTitle reads dc:title from docProps/core.xml.
func coreTitle(z *safeZip) string {
	b, err := z.readNamed("docProps/core.xml", 1<<20)
	if err != nil || b == nil {
		return ""
	}
	d := xmlDecoder(b)
	in := false
	var t strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch x := tok.(type) {
		case xml.StartElement:
			in = x.Name.Local == "title"
		case xml.EndElement:
			if in {
				return t.String()
			}
		case xml.CharData:
			if in {
				t.Write(x)
			}
		}
	}
	return ""
}

// ---- DOCX ----

var headingName = regexp.MustCompile(`(?i)^heading\s*([1-9])$`)

// docxStyles maps paragraph style ids to heading levels (Title = 1) from
// word/styles.xml, by style name ("heading 2") or outline level.
func docxStyles(z *safeZip) (map[string]int, string) {
	levels := map[string]int{}
	titleStyle := ""
	b, err := z.readNamed("word/styles.xml", 8<<20)
	if err != nil || b == nil {
		return levels, titleStyle
	}
	d := xmlDecoder(b)
	var id string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "style":
			id = attr(se, "styleId")
		case "name":
			v := strings.TrimSpace(attr(se, "val"))
			if m := headingName.FindStringSubmatch(v); m != nil && id != "" {
				levels[id], _ = strconv.Atoi(m[1])
			} else if strings.EqualFold(v, "title") && id != "" {
				levels[id] = 1
				titleStyle = id
			}
		case "outlineLvl":
			if n, err := strconv.Atoi(attr(se, "val")); err == nil && id != "" && n < 9 {
				if _, ok := levels[id]; !ok {
					levels[id] = n + 1
				}
			}
		}
	}
	return levels, titleStyle
}

func styleLevel(levels map[string]int, id string) (int, bool) {
	if l, ok := levels[id]; ok {
		return l, strings.EqualFold(id, "title")
	}
	if m := headingName.FindStringSubmatch(id); m != nil { // no styles.xml: default ids
		l, _ := strconv.Atoi(m[1])
		return l, false
	}
	if strings.EqualFold(id, "title") {
		return 1, true
	}
	return 0, false
}

func extractDOCX(st *state, r io.ReaderAt, size int64) (*Document, error) {
	z, err := openZip(r, size)
	if err != nil {
		return nil, err
	}
	body, err := z.readNamed("word/document.xml", MaxZipEntryBytes)
	if err != nil {
		return nil, err
	}
	if body == nil {
		return nil, fmt.Errorf("%w: a DOCX without word/document.xml", ErrCorrupt)
	}
	levels, titleStyle := docxStyles(z)
	doc := &Document{Title: coreTitle(z)}
	cur := Section{}
	var text, para strings.Builder
	var pStyle string
	outline := -1
	inT := false
	d := xmlDecoder(body)
	for n := 0; ; n++ {
		if n%8192 == 0 {
			if err := st.check(); err != nil {
				return nil, err
			}
		}
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, xmlErr("word/document.xml", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			switch x.Name.Local {
			case "p":
				para.Reset()
				pStyle, outline = "", -1
			case "pStyle":
				pStyle = attr(x, "val")
			case "outlineLvl":
				if v, err := strconv.Atoi(attr(x, "val")); err == nil {
					outline = v
				}
			case "t":
				inT = true
			case "tab":
				para.WriteByte('\t')
			case "br", "cr":
				para.WriteByte('\n')
			}
		case xml.EndElement:
			switch x.Name.Local {
			case "t":
				inT = false
			case "tc":
				text.WriteString(" | ")
			case "p":
				lvl, isTitle := styleLevel(levels, pStyle)
				if pStyle == titleStyle && pStyle != "" {
					isTitle = true
				}
				if lvl == 0 && outline >= 0 && outline < 9 {
					lvl = outline + 1
				}
				p := para.String()
				if err := st.add(len(p)); err != nil {
					return nil, err
				}
				if lvl >= 1 && lvl <= 3 && strings.TrimSpace(p) != "" {
					if isTitle && doc.Title == "" {
						doc.Title = p
					}
					cur.Text = text.String()
					doc.Sections = append(doc.Sections, cur)
					cur = Section{Heading: p, Level: lvl}
					text.Reset()
					continue
				}
				text.WriteString(p)
				text.WriteString("\n\n")
			}
		case xml.CharData:
			if inT {
				para.Write(x)
			}
		}
	}
	cur.Text = text.String()
	doc.Sections = append(doc.Sections, cur)
	if doc.Title == "" {
		for _, s := range doc.Sections {
			if s.Heading != "" {
				doc.Title = s.Heading
				break
			}
		}
	}
	return doc, nil
}

// ---- PPTX ----

var slideNum = regexp.MustCompile(`(?i)^ppt/slides/slide([0-9]+)\.xml$`)

// pptxSlides lists slide parts in presentation order: p:sldIdLst through
// ppt/_rels/presentation.xml.rels, else by slide number.
func pptxSlides(z *safeZip) []string {
	var order []string
	pres, _ := z.readNamed("ppt/presentation.xml", 8<<20)
	rels, _ := z.readNamed("ppt/_rels/presentation.xml.rels", 8<<20)
	if pres != nil && rels != nil {
		targets := map[string]string{}
		d := xmlDecoder(rels)
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "Relationship" {
				targets[attr(se, "Id")] = attr(se, "Target")
			}
		}
		d = xmlDecoder(pres)
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "sldId" {
				t := targets[relID(se)]
				if t == "" {
					continue
				}
				p := path.Clean(path.Join("ppt", t))
				if strings.HasPrefix(t, "/") {
					p = strings.TrimPrefix(path.Clean(t), "/")
				}
				if z.find(p) != nil {
					order = append(order, p)
				}
			}
		}
	}
	if len(order) > 0 {
		return order
	}
	type sl struct {
		n    int
		name string
	}
	var all []sl
	for _, f := range z.z.File {
		if m := slideNum.FindStringSubmatch(f.Name); m != nil {
			n, _ := strconv.Atoi(m[1])
			all = append(all, sl{n, f.Name})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n < all[j].n })
	for _, s := range all {
		order = append(order, s.name)
	}
	return order
}

func extractPPTX(st *state, r io.ReaderAt, size int64) (*Document, error) {
	z, err := openZip(r, size)
	if err != nil {
		return nil, err
	}
	slides := pptxSlides(z)
	if len(slides) == 0 {
		return nil, fmt.Errorf("%w: a PPTX without slides", ErrCorrupt)
	}
	doc := &Document{Title: coreTitle(z)}
	for i, name := range slides {
		if err := st.check(); err != nil {
			return nil, err
		}
		b, err := z.read(z.find(name), MaxZipEntryBytes)
		if err != nil {
			return nil, err
		}
		title, body, err := pptxSlide(b)
		if err != nil {
			return nil, xmlErr(name, err)
		}
		if err := st.add(len(title) + len(body)); err != nil {
			return nil, err
		}
		if doc.Title == "" && title != "" {
			doc.Title = title
		}
		doc.Sections = append(doc.Sections, Section{Heading: title, Page: i + 1, Text: body})
	}
	return doc, nil
}

// pptxSlide returns the title placeholder's text and the rest of the
// slide's text, one line per a:p paragraph.
func pptxSlide(b []byte) (title, body string, err error) {
	d := xmlDecoder(b)
	var tb, bb, para strings.Builder
	spDepth := 0
	isTitle := false
	inT := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", err
		}
		switch x := tok.(type) {
		case xml.StartElement:
			switch x.Name.Local {
			case "sp":
				spDepth++
				if spDepth == 1 {
					isTitle = false
				}
			case "ph":
				if t := attr(x, "type"); t == "title" || t == "ctrTitle" {
					isTitle = true
				}
			case "p":
				para.Reset()
			case "t":
				inT = true
			case "br":
				para.WriteByte('\n')
			}
		case xml.EndElement:
			switch x.Name.Local {
			case "sp":
				spDepth--
			case "t":
				inT = false
			case "p":
				if x.Name.Space != "" && !strings.Contains(x.Name.Space, "drawingml") {
					continue
				}
				if isTitle && spDepth > 0 {
					if tb.Len() > 0 {
						tb.WriteByte(' ')
					}
					tb.WriteString(para.String())
				} else {
					bb.WriteString(para.String())
					bb.WriteByte('\n')
				}
				para.Reset()
			}
		case xml.CharData:
			if inT {
				para.Write(x)
			}
		}
	}
	return tb.String(), bb.String(), nil
}

// ---- EPUB ----

func extractEPUB(st *state, r io.ReaderAt, size int64) (*Document, error) {
	z, err := openZip(r, size)
	if err != nil {
		return nil, err
	}
	cont, err := z.readNamed("META-INF/container.xml", 1<<20)
	if err != nil {
		return nil, err
	}
	if cont == nil {
		return nil, fmt.Errorf("%w: an EPUB without META-INF/container.xml", ErrCorrupt)
	}
	opfPath := ""
	d := xmlDecoder(cont)
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rootfile" && opfPath == "" {
			opfPath = attr(se, "full-path")
		}
	}
	opf, err := z.readNamed(opfPath, 8<<20)
	if err != nil {
		return nil, err
	}
	if opf == nil {
		return nil, fmt.Errorf("%w: the EPUB package document %q is missing", ErrCorrupt, opfPath)
	}
	doc := &Document{}
	manifest := map[string]string{}
	var spine []string
	d = xmlDecoder(opf)
	inTitle := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, xmlErr(opfPath, err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			switch x.Name.Local {
			case "title":
				inTitle = doc.Title == ""
			case "item":
				manifest[attr(x, "id")] = attr(x, "href")
			case "itemref":
				if attr(x, "linear") != "no" {
					spine = append(spine, attr(x, "idref"))
				}
			}
		case xml.EndElement:
			inTitle = false
		case xml.CharData:
			if inTitle {
				doc.Title += string(x)
			}
		}
	}
	base := path.Dir(opfPath)
	for _, id := range spine {
		if err := st.check(); err != nil {
			return nil, err
		}
		href := manifest[id]
		if href == "" {
			continue
		}
		if u, err := url.PathUnescape(href); err == nil {
			href = u
		}
		href, _, _ = strings.Cut(href, "#")
		p := path.Join(base, href)
		f := z.find(p)
		if f == nil {
			continue
		}
		b, err := z.read(f, MaxZipEntryBytes)
		if err != nil {
			return nil, err
		}
		ch, err := extractHTMLBytes(st, b)
		if err != nil {
			return nil, err
		}
		secs := ch.Sections
		if len(secs) > 0 && secs[0].Heading == "" && strings.TrimSpace(secs[0].Text) == "" {
			secs = secs[1:]
		}
		if len(secs) > 0 && secs[0].Heading == "" && ch.Title != "" && cleanLine(ch.Title) != cleanLine(doc.Title) {
			secs[0].Heading = ch.Title
		}
		doc.Sections = append(doc.Sections, secs...)
	}
	return doc, nil
}
