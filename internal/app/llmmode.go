package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm"
)

// The LLM mode follows the servers: in mode auto (the default) a process answers in passages
// mode while no Ollama server that is up has the chat model and switches to ollama when one
// appears, and back, with a log line each time. COACHWIRE_LLM_MODE=ollama refuses to start
// without the model on a server that answers; passages never calls a model.

// DefaultLLMCheck is how often a process in mode auto looks at the pool for the chat model.
const DefaultLLMCheck = 5 * time.Second

// llmSwitch is the chat model as the roles see it (generate, compose, memory): the pool, and
// llm.Optional, available while the mode is ollama. The roles check llm.Usable per message.
type llmSwitch struct {
	pool *llm.Pool
	on   atomic.Bool
}

func (s *llmSwitch) Available() bool { return s.on.Load() }

func (s *llmSwitch) Chat(ctx context.Context, model string, msgs []llm.Message, onDelta func(string) error) (string, error) {
	return s.pool.Chat(ctx, model, msgs, onDelta)
}

func (s *llmSwitch) ChatJSON(ctx context.Context, model string, msgs []llm.Message, schema json.RawMessage, out any) error {
	return s.pool.ChatJSON(ctx, model, msgs, schema, out)
}

// LLMMode is the process's current LLM mode: config.LLMOllama while replies are written by the
// chat model, config.LLMPassages otherwise (also in a process that runs no LLM target).
func (a *App) LLMMode() string {
	if a.chat != nil && a.chat.Available() {
		return config.LLMOllama
	}
	return config.LLMPassages
}

// usesLLM: the process runs a target that calls a model (embeddings or chat).
func (a *App) usesLLM() bool {
	return a.cfg.Runs(config.TargetIngest) || a.cfg.Runs(config.TargetRetrieve) || a.cfg.Runs(config.TargetGenerate)
}

// detectLLM builds the process's pool of Ollama servers (when a target of it calls a model) and
// sets the LLM mode; in mode auto a watcher keeps it following the servers. The embedder is used
// when a server has the embedding model at start.
func (a *App) detectLLM(ctx context.Context) error {
	if a.cfg.LLMMode == config.LLMPassages || !a.usesLLM() {
		return nil
	}
	check := a.llmCheck
	if check <= 0 {
		check = DefaultLLMCheck
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	opts := a.withLLMMetrics(poolOptions(a.cfg, a.log))
	if a.llmCheck > 0 {
		opts.Recheck, opts.Probe = a.llmCheck, a.llmCheck
	}
	p, err := llm.NewPool(pctx, opts)
	if err != nil {
		return fmt.Errorf("ollama servers (COACHWIRE_OLLAMA_URL): %w", err)
	}
	a.LLM = p
	a.onStop(p.Close)
	a.chat = &llmSwitch{pool: p}
	ok, err := p.HasModel(pctx, a.cfg.ChatModel)
	has := err == nil && ok
	if a.cfg.LLMMode == config.LLMOllama && !has {
		return fmt.Errorf("COACHWIRE_LLM_MODE=ollama: %s (set COACHWIRE_LLM_MODE=auto to start in passages mode and switch when it appears)",
			a.missingModel(err))
	}
	a.chat.on.Store(has)
	if !has && a.cfg.Runs(config.TargetGenerate) {
		a.log.Warn("answering in passages mode until an Ollama server has the chat model: "+a.missingModel(err), "model", a.cfg.ChatModel, "urls", p.URLs())
	}
	if ok, err := p.HasModel(pctx, a.cfg.EmbedModel); err == nil && ok {
		a.hasEmbedder = true
	} else {
		a.log.Warn("embedding model not available: knowledge search is BM25 only", "model", a.cfg.EmbedModel)
	}
	if a.cfg.LLMMode == config.LLMAuto {
		wctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); a.followLLM(wctx, check) }()
		a.onStop(func() { stop(); <-done })
	}
	return nil
}

// missingModel says why the chat model cannot be used: no server answers, or none that answers
// has it.
func (a *App) missingModel(err error) string {
	urls := strings.Join(a.LLM.URLs(), ", ")
	if errors.Is(err, llm.ErrNoServer) {
		return fmt.Sprintf("no Ollama server answers at COACHWIRE_OLLAMA_URL=%s", urls)
	}
	var up []string
	for _, st := range a.LLM.Stats() {
		if st.Up {
			up = append(up, st.URL)
		}
	}
	return fmt.Sprintf("chat model %q (COACHWIRE_CHAT_MODEL) is on none of the Ollama servers that answer (%s; COACHWIRE_OLLAMA_URL=%s): ollama pull %s",
		a.cfg.ChatModel, strings.Join(up, ", "), urls, a.cfg.ChatModel)
}

// followLLM switches the mode when the pool's view of the chat model changes (the pool re-reads
// each server's models and probes the servers that are out), with a log line each time.
func (a *App) followLLM(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := a.LLM.HasModel(ctx, a.cfg.ChatModel)
		has := err == nil && ok
		if a.chat.on.Swap(has) == has {
			continue
		}
		if has {
			a.log.Info("LLM mode switched to ollama: the chat model answers", "mode", config.LLMOllama, "model", a.cfg.ChatModel, "urls", a.LLM.URLs())
		} else {
			a.log.Warn("LLM mode switched to passages: "+a.missingModel(err), "mode", config.LLMPassages, "model", a.cfg.ChatModel, "urls", a.LLM.URLs())
		}
	}
}
