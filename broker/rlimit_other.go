//go:build !unix

package broker

// fileLimit is the process's limit of open file descriptors, or 0 where it
// is not known.
func fileLimit() int { return 0 }
