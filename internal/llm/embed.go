package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/envconfig"
)

// embedCall makes one /api/embed request. Like chat (stream.go) it talks HTTP itself instead
// of through the api package's client, which reads the answer and decodes it with
// encoding/json: 768 decimals per input, the largest share of a turn's query embedding in
// coachwire's CPU profile. Here the answer's usual shape is parsed directly
// (parseEmbedResponse); anything else goes to encoding/json, so the result, or the error, is
// the same. Errors are those of the api package's client (api.StatusError,
// api.AuthorizationError). Servers that need Ollama's signed requests (ollama.com,
// OLLAMA_AUTH) go through the api package as before.
func (c *Client) embedCall(ctx context.Context, req *api.EmbedRequest) (*api.EmbedResponse, error) {
	if envconfig.UseAuth() || c.host == "ollama.com" {
		return c.api.Embed(ctx, req)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/embed", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := c.opts.HTTPClient.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if err := statusError(resp, raw); err != nil {
		return nil, err
	}
	var out api.EmbedResponse
	if len(raw) > 0 && !parseEmbedResponse(raw, &out) {
		out = api.EmbedResponse{}
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// statusError is the api package client's error for an answer with status 400 or more.
func statusError(resp *http.Response, body []byte) error {
	if resp.StatusCode < http.StatusBadRequest {
		return nil
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e := api.AuthorizationError{StatusCode: resp.StatusCode}
		_ = json.Unmarshal(body, &e)
		return e
	}
	e := api.StatusError{StatusCode: resp.StatusCode}
	if err := json.Unmarshal(body, &e); err != nil {
		e.ErrorMessage = string(body) // the whole body when it is not the JSON error
	}
	return e
}

// parseEmbedResponse fills out from an /api/embed answer of the usual shape: one object with
// the fields of api.EmbedResponse, keys without escapes, the embeddings as arrays of JSON
// numbers. It reports false for anything else (another key, an escape, a syntax error, a
// number float32 cannot hold), and the caller decodes with encoding/json. Where it reports
// true, out is what encoding/json would have decoded (FuzzParseEmbedResponse).
func parseEmbedResponse(b []byte, out *api.EmbedResponse) bool {
	p := embedParser{b: b}
	if !p.eat('{') {
		return false
	}
	if p.eat('}') {
		return p.end()
	}
	embeddings := false
	for {
		key, ok := p.plainString()
		if !ok || !p.eat(':') {
			return false
		}
		switch key {
		case "embeddings":
			if embeddings {
				return false // a repeated key: encoding/json's rules decide
			}
			embeddings = true
			if out.Embeddings, ok = p.vectors(); !ok {
				return false
			}
		case "model":
			if out.Model, ok = p.plainString(); !ok {
				return false
			}
		case "prompt_eval_count":
			n, ok := p.integer()
			if !ok {
				return false
			}
			out.PromptEvalCount = int(n)
		case "total_duration", "load_duration":
			n, ok := p.integer()
			if !ok {
				return false
			}
			if key == "total_duration" {
				out.TotalDuration = time.Duration(n)
			} else {
				out.LoadDuration = time.Duration(n)
			}
		default:
			return false // encoding/json also matches keys ignoring case, and skips unknown ones
		}
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return p.end()
		}
		return false
	}
}

type embedParser struct {
	b []byte
	i int
}

func (p *embedParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// eat skips white space and c.
func (p *embedParser) eat(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (p *embedParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// null skips white space and the literal null.
func (p *embedParser) null() bool {
	p.ws()
	if bytes.HasPrefix(p.b[p.i:], []byte("null")) {
		p.i += 4
		return true
	}
	return false
}

// plainString reads a string without escapes or control characters, in valid UTF-8.
func (p *embedParser) plainString() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

// number returns the next JSON number's text (RFC 8259 grammar).
func (p *embedParser) number() ([]byte, bool) {
	p.ws()
	b, start := p.b, p.i
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	p.i = i
	return b[start:i], true
}

// integer reads a number that encoding/json would store in an int64 field.
func (p *embedParser) integer() (int64, bool) {
	s, ok := p.number()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(s), len(s)), 10, 64)
	return n, err == nil
}

// vectors reads the embeddings: null, or an array of arrays of numbers.
func (p *embedParser) vectors() ([][]float32, bool) {
	if p.null() {
		return nil, true
	}
	if !p.eat('[') {
		return nil, false
	}
	out := [][]float32{}
	if p.eat(']') {
		return out, true
	}
	size := 0
	for {
		if !p.eat('[') {
			return nil, false // null vectors and other shapes: encoding/json
		}
		v := make([]float32, 0, size)
		if !p.eat(']') {
			for {
				s, ok := p.number()
				if !ok {
					return nil, false
				}
				// As encoding/json decodes into a float32: ParseFloat with 32 bits; an error
				// (out of range) is its error too.
				f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(s), len(s)), 32)
				if err != nil {
					return nil, false
				}
				v = append(v, float32(f))
				if p.eat(',') {
					continue
				}
				if p.eat(']') {
					break
				}
				return nil, false
			}
		}
		size = max(size, len(v))
		out = append(out, v)
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return out, true
		}
		return nil, false
	}
}
