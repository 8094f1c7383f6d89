// Package ollamatest is a loopback HTTP server that speaks Ollama's documented
// API (POST /api/chat with NDJSON streaming, POST /api/embed, GET /api/tags,
// GET /api/version) the way Ollama does, for tests and benchmarks that cannot
// reach a real Ollama.
//
// It can behave like a real server under load: a bounded number of slots
// (Ollama's OLLAMA_NUM_PARALLEL) with a FIFO queue in front, a time to first
// token and a token rate (Options.Slots, FirstToken, TokensPerSecond,
// EmbedPerInput). Every wait is a timer, so one process can hold hundreds of
// concurrent requests.
//
// It is for tests only: production code must never import it, and it must
// never listen anywhere but loopback or pretend to be a real model (replies
// are deterministic text built from the request, embeddings a hashed bag of
// words).
package ollamatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/ollama/ollama/api"
)

// Dims is the embedding dimension, the same as nomic-embed-text's.
const Dims = 768

// Version is what GET /api/version reports.
const Version = "0.17.4"

// Message is one chat message as Ollama's API carries it. Thinking is set
// only on answers of a thinking model with thinking on.
type Message struct {
	Role     string `json:"role"`
	Content  string `json:"content"`
	Thinking string `json:"thinking,omitempty"`
}

// ChatRequest is a /api/chat request body as the server received it (the
// fields the server reads; the body is also checked against the official
// api.ChatRequest).
type ChatRequest struct {
	Model    string         `json:"model"`
	Messages []Message      `json:"messages"`
	Stream   *bool          `json:"stream,omitempty"`
	Options  map[string]any `json:"options,omitempty"`
	// Format is Ollama's structured-output constraint: "json" or a JSON schema.
	Format json.RawMessage `json:"format,omitempty"`
	// KeepAlive and Think are the raw keep_alive and think values as sent
	// (for example `"10m0s"` and `false`), nil when absent.
	KeepAlive json.RawMessage `json:"keep_alive,omitempty"`
	Think     json.RawMessage `json:"think,omitempty"`
}

// NumPredict returns options.num_predict (0 when absent or not a number).
func (r ChatRequest) NumPredict() int { return intOption(r.Options, "num_predict") }

// NumCtx returns options.num_ctx (0 when absent or not a number).
func (r ChatRequest) NumCtx() int { return intOption(r.Options, "num_ctx") }

func intOption(opts map[string]any, name string) int {
	switch v := opts[name].(type) {
	case float64:
		return int(v)
	case int:
		return v
	}
	return 0
}

// Options configures the server's behaviour. The zero value serves no models.
type Options struct {
	// ChatModels and EmbedModels are the models /api/chat and /api/embed
	// accept (a name without a tag also matches "<name>:latest"); both are
	// listed by /api/tags. Any other model gets Ollama's 404.
	ChatModels, EmbedModels []string
	// ThinkingModels are the chat models that can think. A request with think
	// on (true, "low", "medium", "high") for any other model gets Ollama's 400
	// `"<model>" does not support thinking`; think false is accepted by every
	// model. A thinking model thinks unless the request says think false (as
	// Ollama does): it streams a short deterministic reasoning as
	// message.thinking deltas before the reply, and those deltas count as
	// tokens like the reply's.
	ThinkingModels []string
	// Reply computes the assistant's answer; nil means DefaultReply.
	Reply func(req ChatRequest) string
	// JSONReply computes the answer of a request with a format (structured output), which
	// Ollama constrains to JSON matching the schema; nil means MinimalJSON of the schema.
	// Its value is marshalled as the reply.
	JSONReply func(req ChatRequest) any
	// ChunkSize is the number of characters (runes) per streamed delta;
	// 0 means 4. One delta is the server's "token": eval_count counts
	// deltas, options.num_predict limits them and TokensPerSecond paces them.
	ChunkSize int
	// DeltaDelay is slept before each streamed delta (on top of any pacing).
	DeltaDelay time.Duration
	// FailAfterDeltas > 0 aborts a streamed reply after that many deltas:
	// the connection is cut without a final done message (a crashed server),
	// or, with FailWithErrorLine, an {"error": ...} line is sent as Ollama
	// does when its runner fails mid-generation.
	FailAfterDeltas   int
	FailWithErrorLine bool
	// Status, when non-zero, is returned by every API endpoint with an
	// Ollama-style {"error": ...} body. With StatusTimes > 0 only that many
	// requests get it, after which the server behaves normally.
	Status      int
	StatusTimes int
	// EmbedDelay is slept before /api/embed answers (a slow embedding model), before
	// the request is read and without a slot; the request ends early if the client goes away.
	EmbedDelay time.Duration

	// Slots is how many requests of one model the server runs at once
	// (Ollama's OLLAMA_NUM_PARALLEL, which is per loaded model: the chat model
	// and the embedding model each have their own). Further requests for the
	// model wait in arrival order; one whose client goes away leaves the
	// queue. 0: unlimited.
	// A request holds its slot from the end of its queue wait to its last
	// line; requests rejected before (bad body, unknown model, forced
	// Status, thinking not supported) never take one.
	Slots int
	// FirstToken is the time from a chat taking its slot to its first delta
	// (prompt processing). A non-streamed chat waits it too.
	FirstToken time.Duration
	// TokensPerSecond > 0 paces the deltas after the first at that rate (a
	// token being one delta of ChunkSize runes); a non-streamed chat answers
	// when its last delta would have been sent. 0: no pacing.
	TokensPerSecond float64
	// EmbedPerInput is the time /api/embed takes per input while holding a slot.
	EmbedPerInput time.Duration
	// DiscardRequests keeps no chat history (ChatRequests returns nil): for
	// benchmarks sending many thousands of long prompts.
	DiscardRequests bool
}

// Counts are the numbers of requests the server has received per endpoint
// (including failed ones).
type Counts struct {
	Chat, Embed, Tags, Version int64
}

// Server is a running loopback Ollama stand-in.
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	opts        Options
	statusLeft  int
	chatHistory []ChatRequest

	slots map[string]*slots // per model (with its tag), created on first use

	chat, embed, tags, version atomic.Int64
}

// New starts a server on 127.0.0.1 and closes it when the test ends if tb is
// non-nil.
func New(tb interface{ Cleanup(func()) }, opts Options) *Server {
	s := &Server{}
	s.SetOptions(opts)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat", s.handleChat)
	mux.HandleFunc("POST /api/embed", s.handleEmbed)
	mux.HandleFunc("GET /api/tags", s.handleTags)
	mux.HandleFunc("GET /api/version", s.handleVersion)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			_, _ = fmt.Fprint(w, "Ollama is running")
			return
		}
		http.NotFound(w, r)
	})
	s.Server = httptest.NewServer(mux)
	if tb != nil {
		tb.Cleanup(s.Close)
	}
	return s
}

// NewCluster starts n servers with the same options (each its own slots and
// counters), closed when the test ends.
func NewCluster(tb interface{ Cleanup(func()) }, n int, opts Options) []*Server {
	out := make([]*Server, n)
	for i := range out {
		out[i] = New(tb, opts)
	}
	return out
}

// URLs returns the servers' base URLs, in order.
func URLs(servers []*Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.URL
	}
	return out
}

// SetOptions replaces the server's behaviour; it applies to requests that
// start after the call (a new Slots applies at once, also to the queue).
func (s *Server) SetOptions(opts Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts = opts
	s.statusLeft = opts.StatusTimes
	for _, q := range s.slots {
		q.setLimit(opts.Slots)
	}
}

// slotsOf returns the slots of model.
func (s *Server) slotsOf(model string) *slots {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slots == nil {
		s.slots = map[string]*slots{}
	}
	q, ok := s.slots[withTag(model)]
	if !ok {
		q = &slots{limit: s.opts.Slots}
		s.slots[withTag(model)] = q
	}
	return q
}

// counts sums the slot counts of every model (most: the most of one model at once).
func (s *Server) counts() (inflight, most, queued int) {
	s.mu.Lock()
	qs := make([]*slots, 0, len(s.slots))
	for _, q := range s.slots {
		qs = append(qs, q)
	}
	s.mu.Unlock()
	for _, q := range qs {
		n, m, w := q.counts()
		inflight, most, queued = inflight+n, max(most, m), queued+w
	}
	return inflight, most, queued
}

// Options returns the current options.
func (s *Server) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// Counts returns the request counters.
func (s *Server) Counts() Counts {
	return Counts{Chat: s.chat.Load(), Embed: s.embed.Load(), Tags: s.tags.Load(), Version: s.version.Load()}
}

// InFlight is the number of chats and embeddings holding a slot now (every model).
func (s *Server) InFlight() int { n, _, _ := s.counts(); return n }

// MaxInFlight is the most requests of one model seen holding a slot at once.
func (s *Server) MaxInFlight() int { _, n, _ := s.counts(); return n }

// Queued is the number of requests waiting for a slot now (every model).
func (s *Server) Queued() int { _, _, n := s.counts(); return n }

// ChatRequests returns a copy of every well-formed chat request for a known
// model received (also those then refused for thinking), in order, with
// options, keep_alive and think as sent, so tests can inspect what was sent.
func (s *Server) ChatRequests() []ChatRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ChatRequest(nil), s.chatHistory...)
}

// forcedStatus reports the status to fail this request with, if any.
func (s *Server) forcedStatus() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Status == 0 {
		return 0
	}
	if s.opts.StatusTimes > 0 {
		if s.statusLeft <= 0 {
			return 0
		}
		s.statusLeft--
	}
	return s.opts.Status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) failForced(w http.ResponseWriter) bool {
	if st := s.forcedStatus(); st != 0 {
		writeError(w, st, strings.ToLower(http.StatusText(st)))
		return true
	}
	return false
}

// modelMatches reports whether requested names one of models, treating a
// missing tag as ":latest" on either side.
func modelMatches(requested string, models []string) bool {
	req := withTag(requested)
	for _, m := range models {
		if withTag(m) == req {
			return true
		}
	}
	return false
}

func withTag(name string) string {
	if name == "" || strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		return name
	}
	return name + ":latest"
}

func notFound(w http.ResponseWriter, model string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("model %q not found, try pulling it first", model))
}

// readStrict reads a request body and decodes it into the official request
// type v, refusing unknown fields: Ollama itself ignores them, but a field the
// API does not have is a bug of the caller, which a test should see. It writes
// Ollama's 400 and returns nil on failure.
func readStrict(w http.ResponseWriter, r *http.Request, v any) []byte {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, "missing request body")
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil
	}
	return body
}

// chatLine is one NDJSON line of a /api/chat response, shaped like Ollama's
// (api.ChatResponse with its api.Metrics).
type chatLine struct {
	Model              string  `json:"model"`
	CreatedAt          string  `json:"created_at"`
	Message            Message `json:"message"`
	Done               bool    `json:"done"`
	DoneReason         string  `json:"done_reason,omitempty"`
	TotalDuration      int64   `json:"total_duration,omitempty"`
	LoadDuration       int64   `json:"load_duration,omitempty"`
	PromptEvalCount    int     `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64   `json:"prompt_eval_duration,omitempty"`
	EvalCount          int     `json:"eval_count,omitempty"`
	EvalDuration       int64   `json:"eval_duration,omitempty"`
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// token is one delta of a reply: reply text, or reasoning of a thinking model.
type token struct {
	text     string
	thinking bool
}

func chunks(text string, size int, thinking bool, out []token) []token {
	runes := []rune(text)
	for i := 0; i < len(runes); i += size {
		out = append(out, token{text: string(runes[i:min(i+size, len(runes))]), thinking: thinking})
	}
	return out
}

// handleChat answers /api/chat. The final line carries done_reason "stop",
// or "length" when the reply reached options.num_predict tokens (deltas; as
// in Ollama's runner, a reply of exactly num_predict tokens also ends with
// "length"), prompt_eval_count (the number of words of every message, a
// stand-in for the prompt's tokens), eval_count (the deltas sent) and the
// durations: total since the request arrived (queue included),
// prompt_eval_duration from the slot to the first delta, eval_duration from
// the first delta to the end.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	s.chat.Add(1)
	if s.failForced(w) {
		return
	}
	var official api.ChatRequest
	body := readStrict(w, r, &official)
	if body == nil {
		return
	}
	var req ChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "model is required")
		return
	}
	opts := s.Options()
	if !modelMatches(req.Model, opts.ChatModels) {
		notFound(w, req.Model)
		return
	}
	if !opts.DiscardRequests {
		s.mu.Lock()
		s.chatHistory = append(s.chatHistory, req)
		s.mu.Unlock()
	}

	canThink := modelMatches(req.Model, opts.ThinkingModels)
	if official.Think.Bool() && !canThink {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q does not support thinking", req.Model))
		return
	}
	thinks := canThink && (official.Think == nil || official.Think.Bool())

	reply := DefaultReply
	if opts.Reply != nil {
		reply = opts.Reply
	}
	if len(req.Format) > 0 && string(req.Format) != "null" {
		reply = func(req ChatRequest) string {
			var v any
			if opts.JSONReply != nil {
				v = opts.JSONReply(req)
			} else {
				v = MinimalJSON(req.Format)
			}
			b, err := json.Marshal(v)
			if err != nil {
				panic(fmt.Sprintf("ollamatest: JSONReply value: %v", err))
			}
			return string(b)
		}
	}
	size := opts.ChunkSize
	if size <= 0 {
		size = 4
	}
	var tokens []token
	if thinks {
		tokens = chunks(Thinking(req), size, true, tokens)
	}
	tokens = chunks(reply(req), size, false, tokens)
	doneReason := "stop"
	if n := req.NumPredict(); n > 0 && len(tokens) >= n {
		tokens, doneReason = tokens[:n], "length"
	}
	promptCount := 0
	for _, m := range req.Messages {
		promptCount += len(words(m.Content))
	}

	ctx := r.Context()
	q := s.slotsOf(req.Model)
	if !q.acquire(ctx) {
		return // the client went away while queued
	}
	defer q.release()
	slotAt := time.Now()
	if !sleep(ctx, opts.FirstToken) {
		return
	}
	firstAt := time.Now()
	// due is when token i may be sent: paced from the first token.
	due := func(i int) time.Time {
		if opts.TokensPerSecond <= 0 {
			return firstAt
		}
		return firstAt.Add(time.Duration(float64(i) / opts.TokensPerSecond * float64(time.Second)))
	}
	final := func(evalCount int) chatLine {
		end := time.Now()
		return chatLine{
			Model: req.Model, CreatedAt: now(),
			Message: Message{Role: "assistant", Content: ""},
			Done:    true, DoneReason: doneReason,
			TotalDuration: int64(end.Sub(arrived)), LoadDuration: 1000, PromptEvalCount: promptCount,
			PromptEvalDuration: max(int64(firstAt.Sub(slotAt)), 1000),
			EvalCount:          evalCount, EvalDuration: max(int64(end.Sub(firstAt)), 1000),
		}
	}

	if req.Stream != nil && !*req.Stream {
		if len(tokens) > 0 && !sleepUntil(ctx, due(len(tokens)-1)) {
			return
		}
		line := final(len(tokens))
		var text, thinking strings.Builder
		for _, t := range tokens {
			if t.thinking {
				thinking.WriteString(t.text)
			} else {
				text.WriteString(t.text)
			}
		}
		line.Message.Content, line.Message.Thinking = text.String(), thinking.String()
		writeJSON(w, http.StatusOK, line)
		return
	}

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	deltas := 0
	for i, t := range tokens {
		if opts.FailAfterDeltas > 0 && deltas >= opts.FailAfterDeltas {
			if opts.FailWithErrorLine {
				_ = enc.Encode(map[string]string{"error": "ollamatest: model runner stopped mid-reply"})
				if flusher != nil {
					flusher.Flush()
				}
				return
			}
			panic(http.ErrAbortHandler) // cut the connection: no done line
		}
		if !sleepUntil(ctx, due(i)) || !sleep(ctx, opts.DeltaDelay) {
			return
		}
		msg := Message{Role: "assistant", Content: t.text}
		if t.thinking {
			msg = Message{Role: "assistant", Thinking: t.text}
		}
		if err := enc.Encode(chatLine{Model: req.Model, CreatedAt: now(), Message: msg}); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		deltas++
	}
	_ = enc.Encode(final(deltas))
}

// Thinking is the reasoning a thinking model streams (as message.thinking)
// before its reply when thinking is on.
func Thinking(req ChatRequest) string {
	return "The user wrote " + fmt.Sprint(len(req.Messages)) + " messages; I answer the last one plainly."
}

// DefaultReply answers deterministically: it quotes the last user message
// and repeats the text of every fenced passage (``` fences) in any message,
// so tests can check what reached the model.
func DefaultReply(req ChatRequest) string {
	var question string
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			question = req.Messages[i].Content
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "You asked: %q.", strings.TrimSpace(question))
	for _, m := range req.Messages {
		for _, p := range FencedPassages(m.Content) {
			fmt.Fprintf(&b, " From the sources: %q.", p)
		}
	}
	return b.String()
}

// FencedPassages returns the trimmed contents of ``` fenced blocks in s (the
// info string after the opening fence is dropped). An unclosed fence runs to
// the end of s.
func FencedPassages(s string) []string {
	var out []string
	lines := strings.Split(s, "\n")
	in := false
	var cur []string
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			if in {
				if p := strings.TrimSpace(strings.Join(cur, "\n")); p != "" {
					out = append(out, p)
				}
				cur = nil
			}
			in = !in
			continue
		}
		if in {
			cur = append(cur, l)
		}
	}
	if in {
		if p := strings.TrimSpace(strings.Join(cur, "\n")); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// embedLine is Ollama's /api/embed answer (api.EmbedResponse).
type embedLine struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration,omitempty"`
	LoadDuration    int64       `json:"load_duration,omitempty"`
	PromptEvalCount int         `json:"prompt_eval_count,omitempty"`
}

// handleEmbed answers /api/embed: one embedding per input, prompt_eval_count
// the number of words of the inputs (a stand-in for their tokens). With
// inputs it holds a slot for EmbedPerInput per input.
func (s *Server) handleEmbed(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	s.embed.Add(1)
	ctx := r.Context()
	if !sleep(ctx, s.Options().EmbedDelay) {
		return
	}
	if s.failForced(w) {
		return
	}
	var req api.EmbedRequest
	if readStrict(w, r, &req) == nil {
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "model is required")
		return
	}
	var inputs []string
	switch in := req.Input.(type) {
	case string:
		if in != "" {
			inputs = []string{in}
		}
	case []any:
		for _, v := range in {
			str, ok := v.(string)
			if !ok {
				writeError(w, http.StatusBadRequest, "invalid input type")
				return
			}
			inputs = append(inputs, str)
		}
	default:
		if in != nil {
			writeError(w, http.StatusBadRequest, "invalid input type")
			return
		}
	}
	opts := s.Options()
	if !modelMatches(req.Model, opts.EmbedModels) {
		notFound(w, req.Model)
		return
	}
	embs := make([][]float32, 0, len(inputs))
	count := 0
	if len(inputs) > 0 {
		q := s.slotsOf(req.Model)
		if !q.acquire(ctx) {
			return
		}
		defer q.release()
		if !sleep(ctx, time.Duration(len(inputs))*opts.EmbedPerInput) {
			return
		}
	}
	for _, in := range inputs {
		embs = append(embs, Embed(in))
		count += len(words(in))
	}
	writeJSON(w, http.StatusOK, embedLine{
		Model: req.Model, Embeddings: embs,
		TotalDuration: max(int64(time.Since(arrived)), 1000), LoadDuration: 1000, PromptEvalCount: count,
	})
}

type tagModel struct {
	Name       string         `json:"name"`
	Model      string         `json:"model"`
	ModifiedAt string         `json:"modified_at"`
	Size       int64          `json:"size"`
	Digest     string         `json:"digest"`
	Details    map[string]any `json:"details"`
}

func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) {
	s.tags.Add(1)
	if s.failForced(w) {
		return
	}
	opts := s.Options()
	seen := map[string]bool{}
	models := []tagModel{}
	add := func(name, family string) {
		name = withTag(name)
		if seen[name] {
			return
		}
		seen[name] = true
		h := fnv.New64a()
		_, _ = h.Write([]byte(name))
		models = append(models, tagModel{
			Name: name, Model: name, ModifiedAt: "2025-01-01T00:00:00Z", Size: 1 << 30,
			Digest: fmt.Sprintf("%016x%016x%016x%016x", h.Sum64(), h.Sum64()^1, h.Sum64()^2, h.Sum64()^3),
			Details: map[string]any{
				"parent_model": "", "format": "gguf", "family": family, "families": []string{family},
				"parameter_size": "1B", "quantization_level": "Q4_K_M",
			},
		})
	}
	for _, m := range opts.ChatModels {
		add(m, "llama")
	}
	for _, m := range opts.EmbedModels {
		add(m, "nomic-bert")
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	s.version.Add(1)
	if s.failForced(w) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"version": Version})
}

// knownPrefixes are nomic-embed-text's task prefixes; Embed ignores them so
// a query and a document with the same words embed to the same vector.
var knownPrefixes = []string{"search_document:", "search_query:", "clustering:", "classification:"}

// Embed is the server's deterministic embedding: the lowercased words of text
// (task prefix removed) hashed into Dims signed buckets, L2-normalised. Texts
// sharing words are close in cosine distance. Text without words embeds to a
// fixed unit vector.
func Embed(text string) []float32 {
	t := strings.TrimSpace(text)
	lt := strings.ToLower(t)
	for _, p := range knownPrefixes {
		if strings.HasPrefix(lt, p) {
			t = t[len(p):]
			break
		}
	}
	v := make([]float64, Dims)
	for _, w := range words(t) {
		h := fnv.New64a()
		_, _ = h.Write([]byte(w))
		sum := h.Sum64()
		sign := 1.0
		if sum>>63 == 1 {
			sign = -1
		}
		v[sum%Dims] += sign
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	out := make([]float32, Dims)
	if norm == 0 {
		out[0] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

// words splits s into lowercased runs of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
}

// MinimalJSON is the smallest value that matches format, Ollama's structured-output constraint:
// for "json" an empty object; for a JSON schema an object with every required property at its
// zero value (empty string and array, 0, false). It stands in for a model that has nothing
// to say but must answer in the requested shape.
func MinimalJSON(format json.RawMessage) any {
	var schema map[string]any
	if err := json.Unmarshal(format, &schema); err != nil {
		return map[string]any{} // "json"
	}
	return minimal(schema)
}

func minimal(schema map[string]any) any {
	switch schema["type"] {
	case "object":
		out := map[string]any{}
		props, _ := schema["properties"].(map[string]any)
		required, _ := schema["required"].([]any)
		for _, r := range required {
			name, _ := r.(string)
			sub, _ := props[name].(map[string]any)
			out[name] = minimal(sub)
		}
		return out
	case "array":
		return []any{}
	case "string":
		return ""
	case "number", "integer":
		return 0
	case "boolean":
		return false
	}
	return nil
}
