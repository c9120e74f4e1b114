// Package atomicfile replaces files so that a crash at any moment leaves
// either the old or the new complete file: the data goes to a temporary
// file in the same folder, which is synced, closed and renamed over the
// target, and then the folder is synced so that the rename itself is
// durable. The state file and the stored images are written this way.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File is the part of *os.File a write uses.
type File interface {
	Name() string
	Write(b []byte) (int, error)
	Sync() error
	Close() error
}

// FS is the few file operations a write uses. OS is the real one; tests
// wrap it to record the order of the calls or to fail one of them.
type FS interface {
	// CreateTemp creates a new file in dir, as os.CreateTemp.
	CreateTemp(dir, pattern string) (File, error)
	// Open opens a file or folder for reading, as os.Open.
	Open(name string) (File, error)
	// Rename renames oldpath to newpath, replacing it, as os.Rename.
	Rename(oldpath, newpath string) error
	// Remove removes a file, as os.Remove.
	Remove(name string) error
}

// OS is the real file system.
type OS struct{}

// CreateTemp calls os.CreateTemp.
func (OS) CreateTemp(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }

// Open calls os.Open.
func (OS) Open(name string) (File, error) { return os.Open(name) }

// Rename calls os.Rename.
func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove calls os.Remove.
func (OS) Remove(name string) error { return os.Remove(name) }

// Write replaces path with data on the real file system (see WriteFS).
func Write(path string, data []byte) error { return WriteFS(OS{}, path, data) }

// WriteFS replaces path with data: it writes a temporary file in the same
// folder, syncs and closes it, renames it over path and syncs the folder.
// On an error before the rename, the temporary file is removed and path is
// untouched; a crash leaves at most a temporary file, which RemoveTemps
// deletes.
func WriteFS(fsys FS, path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := fsys.CreateTemp(dir, TempPrefix(path)+"*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			fsys.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync temporary file: %w", err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename temporary file: %w", err)
	}
	// The new file is in place: a failure to sync the folder is reported,
	// but nothing is removed.
	if serr := SyncDirFS(fsys, dir); serr != nil {
		return &syncDirError{err: serr}
	}
	return nil
}

// syncDirError is a write whose file is in place but whose folder could
// not be synced: the rename may not survive a power cut.
type syncDirError struct{ err error }

func (e *syncDirError) Error() string { return "sync folder: " + e.err.Error() }
func (e *syncDirError) Unwrap() error { return e.err }

// SyncDir syncs a folder, so that a rename or removal in it is durable.
func SyncDir(dir string) error { return SyncDirFS(OS{}, dir) }

// SyncDirFS is SyncDir through fsys.
func SyncDirFS(fsys FS, dir string) error {
	d, err := fsys.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	return errors.Join(serr, cerr)
}

// TempPrefix starts the name of every temporary file of path's writes.
func TempPrefix(path string) string { return filepath.Base(path) + ".tmp-" }

// RemoveTemps deletes the temporary files that interrupted writes of path
// left in its folder, and returns their names. Only regular files named
// like WriteFS's are touched. The folder is listed rather than globbed,
// since a path holding "[" or "*" would be read as a pattern.
func RemoveTemps(path string) ([]string, error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // no folder, no leftovers
		}
		return nil, fmt.Errorf("find temporary files: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), TempPrefix(path)) {
			continue
		}
		m := filepath.Join(dir, e.Name())
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, m)
	}
	return removed, errors.Join(errs...)
}
