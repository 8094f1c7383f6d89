package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// parseLLM reads the LLM pool settings; servers is the number of URLs in COACHWIRE_OLLAMA_URL.
func parseLLM(env func(k, def string) string, dur func(string, time.Duration) time.Duration, num func(string, int) int,
	servers int, errs *[]error) LLM {
	bad := func(format string, a ...any) { *errs = append(*errs, fmt.Errorf(format, a...)) }
	l := LLM{
		ReplyTokens:       num("COACHWIRE_REPLY_TOKENS", DefaultReplyTokens),
		Aging:             dur("COACHWIRE_LLM_AGING", DefaultLLMAging),
		NudgeConcurrency:  num("COACHWIRE_LLM_NUDGE_CONCURRENCY", DefaultLLMNudgeConcurrency),
		IngestConcurrency: num("COACHWIRE_LLM_INGEST_CONCURRENCY", DefaultLLMIngestConcurrency),
		NudgeDailyTokens:  int64(num("COACHWIRE_LLM_NUDGE_DAILY_TOKENS", 0)),
		EmbedDailyTokens:  int64(num("COACHWIRE_LLM_EMBED_DAILY_TOKENS", 0)),
	}

	slots := []int{DefaultOllamaSlots}
	if v := env("COACHWIRE_OLLAMA_SLOTS", ""); v != "" {
		slots = nil
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				bad("COACHWIRE_OLLAMA_SLOTS=%q: want a number of slots, or a comma list with one per server of COACHWIRE_OLLAMA_URL", v)
				slots = []int{DefaultOllamaSlots}
				break
			}
			slots = append(slots, n)
		}
		if len(slots) != 1 && len(slots) != servers {
			bad("COACHWIRE_OLLAMA_SLOTS=%q: %d values for %d servers in COACHWIRE_OLLAMA_URL: give one number for every server or one per server", v, len(slots), servers)
			slots = []int{DefaultOllamaSlots}
		}
	}
	if len(slots) == 1 {
		for range servers {
			l.Slots = append(l.Slots, slots[0])
		}
	} else {
		l.Slots = slots
	}

	if v := env("COACHWIRE_OLLAMA_KEEP_ALIVE", ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			// Ollama also takes a number of seconds (-1: for ever).
			n, nerr := strconv.Atoi(v)
			d, err = time.Duration(n)*time.Second, nerr
		}
		if err != nil || d == 0 {
			bad("COACHWIRE_OLLAMA_KEEP_ALIVE=%q: want a duration such as 30m (negative: keep the model loaded), or leave it unset for Ollama's default", v)
		}
		l.KeepAlive = d
	}
	if v := env("COACHWIRE_OLLAMA_THINK", ""); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("COACHWIRE_OLLAMA_THINK=%q: want true or false", v)
		}
		l.Think = b
	}
	if v := env("COACHWIRE_OLLAMA_MODEL_OPTIONS", ""); v != "" {
		d := json.NewDecoder(strings.NewReader(v))
		var m map[string]map[string]any
		err := d.Decode(&m)
		if err == nil && d.More() {
			err = fmt.Errorf("more than one JSON value")
		}
		if err == nil && m == nil {
			err = fmt.Errorf("null")
		}
		for name, o := range m {
			if err == nil && strings.TrimSpace(name) == "" {
				err = fmt.Errorf("an empty model name")
			}
			if err == nil && o == nil {
				err = fmt.Errorf("model %q: options are null", name)
			}
		}
		if err != nil {
			bad("COACHWIRE_OLLAMA_MODEL_OPTIONS: want a JSON object of model name to Ollama options, such as %s: %v",
				`{"llama3.2": {"temperature": 0.3}}`, err)
		}
		l.ModelOptions = m
	}
	return l
}

// validateLLM checks the Ollama servers and the pool settings.
func (c *Config) validateLLM(bad func(format string, a ...any)) {
	if len(c.OllamaURLs) == 0 {
		bad("COACHWIRE_OLLAMA_URL is empty: want one or more comma-separated http(s)://host:port")
	}
	seen := map[string]bool{}
	for _, raw := range c.OllamaURLs {
		p, err := url.Parse(raw)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("COACHWIRE_OLLAMA_URL: %q is not an http(s) URL with a host", redact(raw))
			continue
		}
		key := strings.TrimRight(raw, "/")
		if seen[key] {
			bad("COACHWIRE_OLLAMA_URL: %q is listed twice", redact(raw))
		}
		seen[key] = true
	}
	l := c.LLM
	if len(l.Slots) != 0 && len(l.Slots) != len(c.OllamaURLs) {
		bad("COACHWIRE_OLLAMA_SLOTS: %d values for %d servers in COACHWIRE_OLLAMA_URL", len(l.Slots), len(c.OllamaURLs))
	}
	for _, n := range l.Slots {
		if n < 1 || n > 256 {
			bad("COACHWIRE_OLLAMA_SLOTS=%d: want 1..256 calls at once per server", n)
			break
		}
	}
	if l.ReplyTokens < 16 || l.ReplyTokens > 32768 {
		bad("COACHWIRE_REPLY_TOKENS=%d: want 16..32768", l.ReplyTokens)
	}
	for _, p := range []struct {
		name string
		n    int
	}{{"COACHWIRE_LLM_NUDGE_CONCURRENCY", l.NudgeConcurrency}, {"COACHWIRE_LLM_INGEST_CONCURRENCY", l.IngestConcurrency}} {
		if p.n < 0 || p.n > 256 {
			bad("%s=%d: want 0 (no cap) to 256", p.name, p.n)
		}
	}
}
