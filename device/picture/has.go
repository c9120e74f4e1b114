package picture

// Has reports whether an image called name is stored (in the folder or the
// user's folder).
func (s *Store) Has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.images[name]
	return ok
}
