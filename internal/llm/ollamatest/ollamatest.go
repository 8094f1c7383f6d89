// Package ollamatest is a loopback HTTP server that speaks Ollama's documented
// API (POST /api/chat with NDJSON streaming, POST /api/embed, GET /api/tags,
// GET /api/version) the way Ollama does, for tests and benchmarks that cannot
// reach a real Ollama.
//
// It is for tests only: production code must never import it, and it must
// never listen anywhere but loopback or pretend to be a real model (replies
// are deterministic text built from the request, embeddings a hashed bag of
// words).
package ollamatest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

// Dims is the embedding dimension, the same as nomic-embed-text's.
const Dims = 768

// Version is what GET /api/version reports.
const Version = "0.17.4"

// Message is one chat message as Ollama's API carries it.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is the part of Ollama's /api/chat request body the server reads.
type ChatRequest struct {
	Model    string         `json:"model"`
	Messages []Message      `json:"messages"`
	Stream   *bool          `json:"stream,omitempty"`
	Options  map[string]any `json:"options,omitempty"`
	// Format is Ollama's structured-output constraint: "json" or a JSON schema.
	Format json.RawMessage `json:"format,omitempty"`
}

// Options configures the server's behaviour. The zero value serves no models.
type Options struct {
	// ChatModels and EmbedModels are the models /api/chat and /api/embed
	// accept (a name without a tag also matches "<name>:latest"); both are
	// listed by /api/tags. Any other model gets Ollama's 404.
	ChatModels, EmbedModels []string
	// Reply computes the assistant's answer; nil means DefaultReply.
	Reply func(req ChatRequest) string
	// JSONReply computes the answer of a request with a format (structured output), which
	// Ollama constrains to JSON matching the schema; nil means MinimalJSON of the schema.
	// Its value is marshalled as the reply.
	JSONReply func(req ChatRequest) any
	// ChunkSize is the number of characters (runes) per streamed delta;
	// 0 means 4.
	ChunkSize int
	// DeltaDelay is slept before each delta.
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
	// EmbedDelay is slept before /api/embed answers (a slow embedding model); the request
	// ends early if the client goes away.
	EmbedDelay time.Duration
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

// SetOptions replaces the server's behaviour; it applies to requests that
// start after the call.
func (s *Server) SetOptions(opts Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts = opts
	s.statusLeft = opts.StatusTimes
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

// ChatRequests returns a copy of every well-formed chat request received, in
// order, so tests can inspect the prompts sent.
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

// chatLine is one NDJSON line of a /api/chat response, shaped like Ollama's.
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

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	s.chat.Add(1)
	if s.failForced(w) {
		return
	}
	var req ChatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
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
	s.mu.Lock()
	s.chatHistory = append(s.chatHistory, req)
	s.mu.Unlock()

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
	text := reply(req)
	start := time.Now()
	promptCount := 0
	for _, m := range req.Messages {
		promptCount += len(words(m.Content))
	}
	final := func(evalCount int) chatLine {
		d := time.Since(start)
		return chatLine{
			Model: req.Model, CreatedAt: now(),
			Message: Message{Role: "assistant", Content: ""},
			Done:    true, DoneReason: "stop",
			TotalDuration: int64(d), LoadDuration: 1000, PromptEvalCount: promptCount,
			PromptEvalDuration: 1000, EvalCount: evalCount, EvalDuration: int64(d),
		}
	}

	if req.Stream != nil && !*req.Stream {
		line := final(len(words(text)))
		line.Message.Content = text
		writeJSON(w, http.StatusOK, line)
		return
	}

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	size := opts.ChunkSize
	if size <= 0 {
		size = 4
	}
	runes := []rune(text)
	deltas := 0
	for i := 0; i < len(runes); i += size {
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
		if opts.DeltaDelay > 0 {
			select {
			case <-time.After(opts.DeltaDelay):
			case <-r.Context().Done():
				return
			}
		}
		end := min(i+size, len(runes))
		if err := enc.Encode(chatLine{
			Model: req.Model, CreatedAt: now(),
			Message: Message{Role: "assistant", Content: string(runes[i:end])},
		}); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		deltas++
	}
	_ = enc.Encode(final(deltas))
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

type embedRequest struct {
	Model string          `json:"model"`
	Input json.RawMessage `json:"input"`
}

func (s *Server) handleEmbed(w http.ResponseWriter, r *http.Request) {
	s.embed.Add(1)
	if d := s.Options().EmbedDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if s.failForced(w) {
		return
	}
	var req embedRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "model is required")
		return
	}
	var inputs []string
	if len(req.Input) > 0 && string(req.Input) != "null" {
		var one string
		if err := json.Unmarshal(req.Input, &one); err == nil {
			inputs = []string{one}
		} else if err := json.Unmarshal(req.Input, &inputs); err != nil {
			writeError(w, http.StatusBadRequest, "invalid input type")
			return
		}
	}
	if !modelMatches(req.Model, s.Options().EmbedModels) {
		notFound(w, req.Model)
		return
	}
	start := time.Now()
	embs := make([][]float32, 0, len(inputs))
	count := 0
	for _, in := range inputs {
		embs = append(embs, Embed(in))
		count += len(words(in))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"model":             req.Model,
		"embeddings":        embs,
		"total_duration":    int64(time.Since(start)),
		"load_duration":     1000,
		"prompt_eval_count": count,
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
