package classify

import (
	"container/list"
	"sync"
)

// maxCachedLen bounds the text length the Cache keeps: longer strings (bulk INSERTs, generated SQL) are
// classified every time rather than filling memory with keys nobody will send twice.
const maxCachedLen = 64 << 10

// Cache is a concurrency-safe LRU of classifications, shared by all sessions of a gateway. It is keyed by
// the statement text with literals normalised by a cheap Go lexer pass (Normalize: numeric and string
// literals replaced, comments blanked; no second parse), so "WHERE id=1" and "WHERE id=2" share one
// entry. On a hit the cached classification is returned with Text re-sliced from the caller's string.
//
// Classifications that depend on a literal's value (EXPLAIN (ANALYZE 0), set_config('role', …)) and
// unparseable strings (whose error message quotes the input) are cached under the exact text instead, so
// a harmless variant can never stand in for a dangerous one and one client's literals never appear in
// another's classification.
//
// The gateway can use it for extended-protocol Parse messages too: classify the prepared statement's text
// once at Parse and keep the result under the statement name in the session (names are per session, the
// cache is shared).
type Cache struct {
	mu           sync.Mutex
	size         int
	ll           *list.List // of *entry, most recently used first
	m            map[string]*list.Element
	hits, misses uint64
}

type entry struct {
	key    string
	stmts  []Statement // Text left empty
	bounds [][2]int    // statement text bounds: normalised offsets, or original offsets for exact keys
	exact  bool
}

// NewCache returns a Cache holding at most size entries; size <= 0 means 1024.
func NewCache(size int) *Cache {
	if size <= 0 {
		size = 1024
	}
	return &Cache{size: size, ll: list.New(), m: make(map[string]*list.Element, size)}
}

// Classify is Classify with caching. The returned slice is the caller's; the slices inside each
// Statement are shared and read-only.
func (c *Cache) Classify(sql string) []Statement {
	if len(sql) > maxCachedLen {
		c.count(false)
		return Classify(sql)
	}
	norm, spans := normalize(sql)
	nkey, xkey := "n"+norm, "x"+sql
	if e := c.get(xkey); e != nil {
		return e.materialise(sql, nil)
	}
	if e := c.get(nkey); e != nil {
		return e.materialise(sql, spans)
	}
	r := classify(sql)
	e := &entry{stmts: make([]Statement, len(r.stmts)), bounds: make([][2]int, len(r.bounds))}
	copy(e.stmts, r.stmts)
	for i := range e.stmts {
		e.stmts[i].Text = ""
	}
	if r.literalSensitive {
		e.key, e.exact = xkey, true
		copy(e.bounds, r.bounds)
	} else {
		e.key = nkey
		for i, b := range r.bounds {
			e.bounds[i] = [2]int{toNorm(spans, b[0]), toNorm(spans, b[1])}
		}
	}
	c.put(e)
	return r.stmts
}

func (c *Cache) count(hit bool) {
	c.mu.Lock()
	if hit {
		c.hits++
	} else {
		c.misses++
	}
	c.mu.Unlock()
}

func (c *Cache) get(key string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		if key[0] == 'n' { // a lookup is one exact probe then one normalised probe: count once
			c.misses++
		}
		return nil
	}
	c.hits++
	c.ll.MoveToFront(el)
	return el.Value.(*entry)
}

func (c *Cache) put(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[e.key]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.m[e.key] = c.ll.PushFront(e)
	for c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*entry).key)
	}
}

// materialise builds the caller's statements from a cached entry, slicing Text from sql.
func (e *entry) materialise(sql string, spans []span) []Statement {
	out := make([]Statement, len(e.stmts))
	copy(out, e.stmts)
	for i, b := range e.bounds {
		start, end := b[0], b[1]
		if !e.exact {
			start, end = toOrig(spans, start), toOrig(spans, end)
		}
		if start < 0 || end > len(sql) || start > end {
			start, end = 0, len(sql) // cannot happen for equal keys; never slice out of range
		}
		out[i].Text = sql[start:end]
	}
	return out
}

// Stats returns the number of cache hits and misses so far (strings too long to cache count as misses).
func (c *Cache) Stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// Len returns the number of entries held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
