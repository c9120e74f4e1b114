package scene

import "sync"

// Catalog is the set of scenes of a running daemon: the built-in ones and
// the user's scene files, which change while it runs. It hands out the
// current Registry and announces each change. It is safe for concurrent
// use.
type Catalog struct {
	mu      sync.Mutex
	reg     *Registry
	changed chan struct{} // closed and replaced on every change
}

// NewCatalog returns a catalog of the scenes of r.
func NewCatalog(r *Registry) *Catalog {
	return &Catalog{reg: r, changed: make(chan struct{})}
}

// Registry returns the scenes now; it never changes (Set makes a new one).
func (c *Catalog) Registry() *Registry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reg
}

// Set makes r the scenes and announces the change.
func (c *Catalog) Set(r *Registry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reg = r
	close(c.changed)
	c.changed = make(chan struct{})
}

// Changed returns a channel that is closed at the next Set.
func (c *Catalog) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Lookup looks name up in the scenes now.
func (c *Catalog) Lookup(name string) (Scene, bool) { return c.Registry().Lookup(name) }

// For lists the scenes now that support size.
func (c *Catalog) For(size Size) []string { return c.Registry().For(size) }

// Check checks name against the scenes now (see Registry.Check).
func (c *Catalog) Check(name string, size Size) error { return c.Registry().Check(name, size) }

// Scenes is what a display needs of a set of scenes: a *Registry, or a
// *Catalog whose scenes change while the daemon runs.
type Scenes interface {
	Lookup(name string) (Scene, bool)
	For(size Size) []string
	Check(name string, size Size) error
}

var (
	_ Scenes = (*Registry)(nil)
	_ Scenes = (*Catalog)(nil)
)
