package llm

import (
	"context"
	"encoding/json"
	"fmt"
)

// ChatJSON asks model for a reply constrained to schema (Ollama's structured outputs: the chat
// request's "format" is a JSON schema) and decodes it into out. Not streamed; transient failures
// are retried like every call. The reply is untrusted: callers validate what they decoded.
func (c *Client) ChatJSON(ctx context.Context, model string, msgs []Message, schema json.RawMessage, out any) error {
	var content string
	err := c.retry(ctx, "chat", model, func() (bool, error) {
		var err error
		content, err = c.chat(ctx, model, msgs, chatReq{options: c.opts.ChatOptions, format: schema}, false, nil, nil)
		return true, err
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(content), out); err != nil {
		return fmt.Errorf("llm: structured reply is not the requested JSON: %w", err)
	}
	return nil
}
