package llm

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ollama/ollama/api"
)

// ChatJSON asks model for a reply constrained to schema (Ollama's structured outputs: the chat
// request's "format" is a JSON schema) and decodes it into out. Not streamed; transient failures
// are retried like every call. The reply is untrusted: callers validate what they decoded.
func (c *Client) ChatJSON(ctx context.Context, model string, msgs []Message, schema json.RawMessage, out any) error {
	stream := false
	req := &api.ChatRequest{Model: model, Stream: &stream, Format: schema, Options: c.opts.ChatOptions}
	req.Messages = make([]api.Message, len(msgs))
	for i, m := range msgs {
		req.Messages[i] = api.Message{Role: m.Role, Content: m.Content}
	}
	var content string
	err := c.retry(ctx, "chat", model, func() (bool, error) {
		return true, c.api.Chat(ctx, req, func(r api.ChatResponse) error {
			content += r.Message.Content
			return nil
		})
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(content), out); err != nil {
		return fmt.Errorf("llm: structured reply is not the requested JSON: %w", err)
	}
	return nil
}
