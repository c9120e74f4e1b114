// Package atomicfiletest records and interrupts the file operations of
// atomicfile writes, for tests of what a crash or a full disk leaves
// behind.
package atomicfiletest

import (
	"errors"
	"sync"

	"github.com/pidicon/pidicon-mqtt/internal/atomicfile"
)

// Op is one file operation: its kind and whether it was on the temporary
// file or on the folder.
type Op string

// The operations a write does, in the order it must do them.
const (
	Create   Op = "create"
	Write    Op = "write"
	Sync     Op = "sync"
	Close    Op = "close"
	Rename   Op = "rename"
	OpenDir  Op = "open-dir"
	SyncDir  Op = "sync-dir"
	CloseDir Op = "close-dir"
	Remove   Op = "remove"
)

// ErrCrash stands for the process dying: the operation that returns it
// does not happen, and neither does any later one (no clean-up).
var ErrCrash = errors.New("simulated crash")

// FS wraps the real file system, records every operation in order and
// fails the one Fail says to. It is safe for concurrent use.
type FS struct {
	// Fail, if set, is asked before each operation; an error stops it.
	// ErrCrash also stops every later one.
	Fail func(op Op) error

	mu      sync.Mutex
	ops     []Op
	crashed bool
}

// Ops lists the operations done (or refused), in order.
func (f *FS) Ops() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Op(nil), f.ops...)
}

// Reset forgets the operations and a crash.
func (f *FS) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops, f.crashed = nil, false
}

func (f *FS) do(op Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return ErrCrash
	}
	f.ops = append(f.ops, op)
	if f.Fail == nil {
		return nil
	}
	err := f.Fail(op)
	if errors.Is(err, ErrCrash) {
		f.crashed = true
	}
	return err
}

// CreateTemp records Create.
func (f *FS) CreateTemp(dir, pattern string) (atomicfile.File, error) {
	if err := f.do(Create); err != nil {
		return nil, err
	}
	file, err := atomicfile.OS{}.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &recorded{File: file, fs: f, write: Write, sync: Sync, close: Close}, nil
}

// Open records OpenDir: writes open only their folder.
func (f *FS) Open(name string) (atomicfile.File, error) {
	if err := f.do(OpenDir); err != nil {
		return nil, err
	}
	file, err := atomicfile.OS{}.Open(name)
	if err != nil {
		return nil, err
	}
	return &recorded{File: file, fs: f, write: Write, sync: SyncDir, close: CloseDir}, nil
}

// Rename records Rename.
func (f *FS) Rename(oldpath, newpath string) error {
	if err := f.do(Rename); err != nil {
		return err
	}
	return atomicfile.OS{}.Rename(oldpath, newpath)
}

// Remove records Remove.
func (f *FS) Remove(name string) error {
	if err := f.do(Remove); err != nil {
		return err
	}
	return atomicfile.OS{}.Remove(name)
}

type recorded struct {
	atomicfile.File
	fs                 *FS
	write, sync, close Op
}

func (r *recorded) Write(b []byte) (int, error) {
	if err := r.fs.do(r.write); err != nil {
		return 0, err
	}
	return r.File.Write(b)
}

func (r *recorded) Sync() error {
	if err := r.fs.do(r.sync); err != nil {
		return err
	}
	return r.File.Sync()
}

func (r *recorded) Close() error {
	if err := r.fs.do(r.close); err != nil {
		// A crashed process's files are closed by the kernel.
		r.File.Close()
		return err
	}
	return r.File.Close()
}
