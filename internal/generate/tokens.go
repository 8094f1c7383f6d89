package generate

import (
	"hash/maphash"
	"sync"
)

// CachedCounter remembers the token counts of the texts it has seen: a turn's prompt is mostly
// text counted before (the creator's passages, which every question about the same subject
// retrieves again, and the conversation's history, counted again at each turn), and exact BPE
// counting is the most expensive step of building a prompt. Entries are keyed by a 64-bit hash
// of the text and its length; at most size are kept (the cache is emptied when full, which
// costs one recount of what is still in use).
func CachedCounter(count TokenCounter, size int) TokenCounter {
	c := &tokenCache{count: count, size: size, seed: maphash.MakeSeed(), m: make(map[cacheKey]int, size)}
	return c.Count
}

type cacheKey struct {
	h uint64
	n int
}

type tokenCache struct {
	count TokenCounter
	size  int
	seed  maphash.Seed
	mu    sync.Mutex
	m     map[cacheKey]int
}

func (c *tokenCache) Count(s string) int {
	if len(s) < 64 { // short texts are cheaper to count than to remember
		return c.count(s)
	}
	k := cacheKey{maphash.String(c.seed, s), len(s)}
	c.mu.Lock()
	n, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return n
	}
	n = c.count(s)
	c.mu.Lock()
	if len(c.m) >= c.size {
		clear(c.m)
	}
	c.m[k] = n
	c.mu.Unlock()
	return n
}
