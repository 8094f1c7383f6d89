// Package llm is coachwire's adapter over Ollama's HTTP API
// (github.com/ollama/ollama/api): streaming chat, embeddings, model presence
// and liveness, with bounded, context-aware retries of transient failures.
//
// It must never retry a chat once any delta has been handed to the caller
// (the caller may already have shown it to an end user), never hide an
// unreachable server behind an empty answer (callers get ErrUnavailable and
// choose the "passages" mode), and never decide anything about access: model
// output is untrusted text.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/ollama/ollama/api"
)

// Embedding prefixes for nomic-embed-text: documents are embedded with
// DocumentPrefix, search queries with QueryPrefix.
const (
	DocumentPrefix = "search_document: "
	QueryPrefix    = "search_query: "
)

var (
	// ErrUnavailable reports that Ollama could not be reached or kept failing
	// with transient errors (connection refused, 5xx, 429) after retries, or
	// that a reply stream broke off. Test with errors.Is.
	ErrUnavailable = errors.New("llm: ollama unavailable")
	// ErrModelNotFound reports that Ollama does not have the model (HTTP 404).
	ErrModelNotFound = errors.New("llm: model not found")
	// ErrInterrupted reports that a chat stream failed after deltas had
	// already been delivered; it is never retried. It also matches
	// ErrUnavailable.
	ErrInterrupted = errors.New("llm: reply interrupted")
)

// Error is the error type returned by Client methods for failures of the
// Ollama service. errors.Is matches ErrUnavailable, ErrModelNotFound or
// ErrInterrupted according to Kind.
type Error struct {
	Op       string // "chat", "embed", "tags", "version"
	Model    string // model name, if any
	Status   int    // HTTP status, if the server answered
	Attempts int    // attempts made
	Kind     error  // ErrUnavailable, ErrModelNotFound, ErrInterrupted or nil
	Err      error  // underlying error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("llm: ")
	b.WriteString(e.Op)
	if e.Model != "" {
		fmt.Fprintf(&b, " %q", e.Model)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "llm: "))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel errors by kind.
func (e *Error) Is(target error) bool {
	switch target {
	case nil:
		return false
	case ErrUnavailable:
		return e.Kind == ErrUnavailable || e.Kind == ErrInterrupted
	default:
		return target == e.Kind
	}
}

// Message is one chat message; Role is "system", "user" or "assistant".
type Message struct {
	Role    string
	Content string
}

// Options tunes a Client. Zero fields take the defaults noted.
type Options struct {
	// HTTPClient is used for every request; default has no overall timeout
	// (streams can be long; use contexts) and a 10 s dial timeout.
	HTTPClient *http.Client
	// MaxAttempts bounds attempts per call, including the first; default 4.
	MaxAttempts int
	// InitialBackoff is the wait before the first retry, doubled each time
	// up to MaxBackoff, with ±25 % jitter; defaults 250 ms and 4 s.
	InitialBackoff, MaxBackoff time.Duration
	// ChatOptions are passed as Ollama "options" (temperature, num_ctx, ...).
	ChatOptions map[string]any
	// Logger receives retry warnings; default slog.Default().
	Logger *slog.Logger
}

// Client talks to one Ollama server. It is safe for concurrent use.
type Client struct {
	api  *api.Client
	opts Options
	base string
}

// New returns a Client for the Ollama server at baseURL (for example
// http://127.0.0.1:11434). It does not contact the server; use Ping.
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("llm: invalid Ollama URL %q: want http(s)://host:port", baseURL)
	}
	if opts.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 4
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 4 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Client{api: api.NewClient(u, opts.HTTPClient), opts: opts, base: u.String()}, nil
}

// URL is the server's base URL.
func (c *Client) URL() string { return c.base }

// errIncomplete marks a stream that ended without Ollama's final done line.
var errIncomplete = errors.New("stream ended before the final message")

// Chat sends msgs to model with streaming on, calls onDelta (if non-nil)
// with each piece of the reply in order, and returns the full reply.
//
// Transient failures before the first delta are retried with backoff; once a
// delta was delivered nothing is retried: a broken stream returns the text
// received so far and an error matching ErrInterrupted (and ErrUnavailable).
// An error returned by onDelta stops the stream and is returned as is.
func (c *Client) Chat(ctx context.Context, model string, msgs []Message, onDelta func(string) error) (string, error) {
	var (
		full      string
		delivered bool
	)
	err := c.retry(ctx, "chat", model, func() (bool, error) {
		var err error
		full, err = c.chat(ctx, model, msgs, chatReq{options: c.opts.ChatOptions}, true, func(d string) error {
			if onDelta == nil {
				return nil // nobody saw it: a broken stream may still be retried
			}
			delivered = true // the caller may have used it even if it errs
			return onDelta(d)
		}, nil)
		var cb callbackError
		if errors.As(err, &cb) {
			return false, err
		}
		return !delivered, err
	})
	var cb callbackError
	if errors.As(err, &cb) {
		return full, cb.err
	}
	if err != nil && delivered {
		var e *Error
		if errors.As(err, &e) && e.Kind != ErrModelNotFound && ctx.Err() == nil {
			e.Kind = ErrInterrupted
		}
	}
	return full, err
}

// chatReq is what a chat request carries besides the model and the messages.
type chatReq struct {
	options   map[string]any
	keepAlive *api.Duration
	think     *api.ThinkValue
	format    json.RawMessage
}

// callbackError carries an error returned by the caller's onDelta: returned as is, never retried.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// chat makes one /api/chat request (streamed when stream is true, onDelta called per delta) and
// returns the reply. u, when non-nil, gets the token counts and done_reason. An error of onDelta
// comes back as a callbackError; an incomplete stream as errIncomplete; every other failure is
// the raw transport or status error (callers wrap it).
func (c *Client) chat(ctx context.Context, model string, msgs []Message, r chatReq, stream bool, onDelta func(string) error, u *Usage) (string, error) {
	req := &api.ChatRequest{Model: model, Stream: &stream, Options: r.options, KeepAlive: r.keepAlive, Think: r.think, Format: r.format}
	req.Messages = make([]api.Message, len(msgs))
	for i, m := range msgs {
		req.Messages[i] = api.Message{Role: m.Role, Content: m.Content}
	}
	var full strings.Builder
	done := false
	err := c.chatStream(ctx, req, func(resp api.ChatResponse) error {
		if resp.Message.Content != "" {
			full.WriteString(resp.Message.Content)
			if onDelta != nil {
				if err := onDelta(resp.Message.Content); err != nil {
					return callbackError{err}
				}
			}
		}
		if resp.Done {
			done = true
			if u != nil {
				u.PromptTokens += resp.PromptEvalCount
				u.ReplyTokens += resp.EvalCount
				u.DoneReason = resp.DoneReason
			}
		}
		return nil
	})
	if err == nil && !done {
		err = errIncomplete
	}
	return full.String(), err
}

// Embed returns one embedding per input, in order, from the embedding model.
// Callers add DocumentPrefix or QueryPrefix themselves.
func (c *Client) Embed(ctx context.Context, model string, inputs []string) ([][]float32, error) {
	if len(inputs) == 0 {
		return nil, nil
	}
	var out [][]float32
	err := c.retry(ctx, "embed", model, func() (bool, error) {
		var err error
		out, err = c.embed(ctx, model, inputs, 0, nil)
		var bad badAnswer
		return !errors.As(err, &bad), err
	})
	return out, err
}

// badAnswer is a well-formed answer that does not fit the request: never retried.
type badAnswer struct{ error }

// embed makes one /api/embed request; keepAlive 0 leaves Ollama's default.
func (c *Client) embed(ctx context.Context, model string, inputs []string, keepAlive time.Duration, u *Usage) ([][]float32, error) {
	req := &api.EmbedRequest{Model: model, Input: inputs}
	if keepAlive != 0 {
		req.KeepAlive = &api.Duration{Duration: keepAlive}
	}
	resp, err := c.api.Embed(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp.Embeddings) != len(inputs) {
		return nil, badAnswer{fmt.Errorf("got %d embeddings for %d inputs", len(resp.Embeddings), len(inputs))}
	}
	if u != nil {
		u.PromptTokens += resp.PromptEvalCount
	}
	return resp.Embeddings, nil
}

// HasModel reports whether the server has the model, matching names with or
// without the ":latest" tag.
func (c *Client) HasModel(ctx context.Context, name string) (bool, error) {
	var list *api.ListResponse
	err := c.retry(ctx, "tags", "", func() (bool, error) {
		var err error
		list, err = c.api.List(ctx)
		return true, err
	})
	if err != nil {
		return false, err
	}
	want := withLatest(name)
	for _, m := range list.Models {
		if withLatest(m.Name) == want || withLatest(m.Model) == want {
			return true, nil
		}
	}
	return false, nil
}

func withLatest(name string) string {
	if name == "" || strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		return name
	}
	return name + ":latest"
}

// Ping checks that the server answers GET /api/version. It does not retry:
// it is a health probe.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.api.Version(ctx); err != nil {
		return c.wrap("version", "", 1, err)
	}
	return nil
}

// Version returns the server's version string.
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := c.api.Version(ctx)
	if err != nil {
		return "", c.wrap("version", "", 1, err)
	}
	return v, nil
}

// retry runs attempt until it succeeds, returns a non-retryable error, or
// MaxAttempts is reached. attempt reports whether its error may be retried
// (if it is also transient).
func (c *Client) retry(ctx context.Context, op, model string, attempt func() (retryable bool, err error)) error {
	backoff := c.opts.InitialBackoff
	for n := 1; ; n++ {
		retryable, err := attempt()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return c.wrap(op, model, n, ctx.Err())
		}
		if !retryable || !transient(err) || n >= c.opts.MaxAttempts {
			return c.wrap(op, model, n, err)
		}
		wait := jitter(backoff)
		c.opts.Logger.WarnContext(ctx, "ollama request failed, retrying", "op", op, "model", model, "attempt", n, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return c.wrap(op, model, n, fmt.Errorf("%w (last error: %v)", ctx.Err(), err))
		case <-t.C:
		}
		backoff = min(backoff*2, c.opts.MaxBackoff)
	}
}

func jitter(d time.Duration) time.Duration {
	return d*3/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (c *Client) wrap(op, model string, attempts int, err error) *Error {
	e := &Error{Op: op, Model: model, Attempts: attempts, Err: err}
	var se api.StatusError
	if errors.As(err, &se) {
		e.Status = se.StatusCode
	}
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// the caller's deadline, not a verdict on the service
	case e.Status == http.StatusNotFound:
		e.Kind = ErrModelNotFound
	case transient(err):
		e.Kind = ErrUnavailable
	}
	return e
}

// transient reports whether err is worth retrying: the server could not be
// reached, dropped the connection, answered 5xx or 429, or ended a stream
// without its final message.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se api.StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests
	}
	if errors.Is(err, errIncomplete) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true // dial failures, timeouts
	}
	var ue *url.Error
	return errors.As(err, &ue) // transport-level failure before any answer
}
