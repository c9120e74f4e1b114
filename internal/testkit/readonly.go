package testkit

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// ReadOnlyDir makes dir refuse new, renamed and removed entries, for this
// process and the processes it starts, as a folder owned by another user
// does (a root-owned bind mount in a container). Files already in it stay
// readable. The returned func makes it writable again; it also runs when
// the test ends.
//
// Without root it takes away the write permission. Root ignores
// permissions, so as root it sets the immutable attribute (chattr +i)
// instead. Where neither stops a write (a file system without that
// attribute), the test is skipped, or fails when CI is set.
func ReadOnlyDir(t testing.TB, dir string) (writable func()) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	var undo func() error
	if os.Geteuid() == 0 {
		chattr, err := exec.LookPath("chattr")
		if err != nil {
			SkipOrFail(t, "running as root and chattr (e2fsprogs) is not installed: cannot make a folder read-only")
		}
		if out, err := exec.Command(chattr, "+i", dir).CombinedOutput(); err != nil {
			SkipOrFail(t, "running as root and chattr +i fails here: cannot make a folder read-only: "+string(out))
		}
		undo = func() error {
			if out, err := exec.Command(chattr, "-i", dir).CombinedOutput(); err != nil {
				return errors.New("chattr -i: " + string(out))
			}
			return nil
		}
	} else {
		if err := os.Chmod(dir, fi.Mode().Perm()&^0o222); err != nil {
			t.Fatal(err)
		}
		undo = func() error { return os.Chmod(dir, fi.Mode().Perm()) }
	}
	var once sync.Once
	writable = func() {
		once.Do(func() {
			if err := undo(); err != nil {
				t.Errorf("make %s writable again: %v", dir, err)
			}
		})
	}
	t.Cleanup(writable)
	// Check that it took.
	probe := filepath.Join(dir, ".readonly-probe")
	if f, err := os.Create(probe); err == nil {
		f.Close()
		os.Remove(probe)
		writable()
		SkipOrFail(t, "cannot make a folder read-only here (the file system ignores it)")
	} else if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("create in the read-only folder: %v, want a permission error", err)
	}
	return writable
}

// SkipOrFail skips the test, or fails it when CI is set: CI provides what
// the test needs, so a skip there would hide a broken promise.
func SkipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI is set, so this test must run", msg)
	}
	t.Skip(msg + "; skipping")
}
