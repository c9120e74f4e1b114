package picture

import (
	"container/list"
	"image/color"
)

// cacheBudget is how many bytes of scaled frames a Store keeps: a 64x64
// animation of MaxFrames frames takes 8 MiB, a still 16 KiB.
const cacheBudget = 32 << 20

// cacheKey is one fitting of one version of a stored image.
type cacheKey struct {
	name string
	gen  uint64 // the version: Store counts Puts and Deletes
	w, h int
	fit  Fit
	bg   color.RGBA
}

// cache keeps the most recently used fittings up to cacheBudget bytes. It
// is not safe for concurrent use: Store guards it.
type cache struct {
	order *list.List // of *cached, most recently used first
	byKey map[cacheKey]*list.Element
	bytes int64
}

type cached struct {
	key  cacheKey
	anim *Animation
	size int64
}

func newCache() cache {
	return cache{order: list.New(), byKey: make(map[cacheKey]*list.Element)}
}

// get returns the fitting of key, if kept, and marks it used.
func (c *cache) get(key cacheKey) (*Animation, bool) {
	e, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cached).anim, true
}

// put keeps a fitting, dropping the least recently used ones over the
// budget. A fitting larger than the budget is not kept.
func (c *cache) put(key cacheKey, a *Animation) {
	size := a.size()
	if size > cacheBudget {
		return
	}
	if e, ok := c.byKey[key]; ok {
		c.remove(e)
	}
	c.byKey[key] = c.order.PushFront(&cached{key: key, anim: a, size: size})
	c.bytes += size
	for c.bytes > cacheBudget {
		c.remove(c.order.Back())
	}
}

// drop forgets every fitting of the image name.
func (c *cache) drop(name string) {
	for e := c.order.Front(); e != nil; {
		next := e.Next()
		if e.Value.(*cached).key.name == name {
			c.remove(e)
		}
		e = next
	}
}

func (c *cache) remove(e *list.Element) {
	v := c.order.Remove(e).(*cached)
	delete(c.byKey, v.key)
	c.bytes -= v.size
}
