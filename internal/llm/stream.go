package llm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/ollama/ollama/api"
)

// Streaming /api/chat is read here rather than through api.Client.Chat: the client library
// allocates an 8 MiB scanner buffer for every call, which at hundreds of turns per second was
// the largest CPU cost of a generate process (allocation plus GC). The request and response
// types, the NDJSON framing and the error contract are the library's own; only the buffer
// differs: small, pooled, and grown only for a long line (up to the same 8 MiB cap).

const maxLine = 8 << 20

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func (c *Client) chatStream(ctx context.Context, req *api.ChatRequest, fn func(api.ChatResponse) error) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/chat", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.opts.HTTPClient.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	bufp := lineBufs.Get().(*[]byte)
	defer lineBufs.Put(bufp)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer((*bufp)[:0], maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		var msg struct {
			api.ChatResponse
			Error string `json:"error,omitempty"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			if resp.StatusCode >= http.StatusBadRequest {
				return api.StatusError{StatusCode: resp.StatusCode, Status: resp.Status, ErrorMessage: string(line)}
			}
			return errors.New(string(line))
		}
		if resp.StatusCode >= http.StatusBadRequest {
			return api.StatusError{StatusCode: resp.StatusCode, Status: resp.Status, ErrorMessage: msg.Error}
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
		if err := fn(msg.ChatResponse); err != nil {
			return err
		}
	}
	return sc.Err()
}
