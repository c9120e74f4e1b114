package atomicfile_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pidicon/pidicon-mqtt/internal/atomicfile"
	"github.com/pidicon/pidicon-mqtt/internal/atomicfile/atomicfiletest"
)

// order is what one write must do, in this order: the data is on disk
// before the rename makes it the file, and the rename is on disk before
// the write returns.
var order = []atomicfiletest.Op{
	atomicfiletest.Create, atomicfiletest.Write, atomicfiletest.Sync, atomicfiletest.Close,
	atomicfiletest.Rename, atomicfiletest.OpenDir, atomicfiletest.SyncDir, atomicfiletest.CloseDir,
}

func TestWrite_Order(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	var rec atomicfiletest.FS
	if err := atomicfile.WriteFS(&rec, path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got := rec.Ops(); !slices.Equal(got, order) {
		t.Fatalf("operations %v, want %v", got, order)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Fatalf("file holds %q", got)
	}
}

// tempFiles lists the temporary files of path's writes.
func tempFiles(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), atomicfile.TempPrefix(path)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestWrite_Interrupted stops a write at each of its operations, with an
// ordinary error (clean-up runs) and with a crash (nothing runs after it),
// with and without an old file. What is at path afterwards must be the
// complete old file or the complete new one.
func TestWrite_Interrupted(t *testing.T) {
	oldData, newData := []byte("old complete file"), []byte("new complete file")
	errDisk := errors.New("disk on fire")
	for _, withOld := range []bool{true, false} {
		for _, failure := range []error{errDisk, atomicfiletest.ErrCrash} {
			for i, at := range order {
				name := map[bool]string{true: "old file/", false: "no old file/"}[withOld] +
					map[error]string{errDisk: "error", atomicfiletest.ErrCrash: "crash"}[failure] + "/at " + string(at)
				t.Run(name, func(t *testing.T) {
					path := filepath.Join(t.TempDir(), "state.json")
					if withOld {
						if err := atomicfile.Write(path, oldData); err != nil {
							t.Fatal(err)
						}
					}
					rec := atomicfiletest.FS{Fail: func(op atomicfiletest.Op) error {
						if op == at {
							return failure
						}
						return nil
					}}
					err := atomicfile.WriteFS(&rec, path, newData)
					if !errors.Is(err, failure) {
						t.Fatalf("WriteFS = %v, want %v", err, failure)
					}
					if ops := rec.Ops(); len(ops) < i+1 || !slices.Equal(ops[:i+1], order[:i+1]) {
						t.Errorf("operations %v, want %v first", ops, order[:i+1])
					}
					renamed := i > slices.Index(order, atomicfiletest.Rename)
					got, rerr := os.ReadFile(path)
					switch {
					case renamed && !bytes.Equal(got, newData):
						t.Errorf("after the rename, path holds %q, %v; want the new file", got, rerr)
					case !renamed && withOld && !bytes.Equal(got, oldData):
						t.Errorf("path holds %q, %v; want the complete old file", got, rerr)
					case !renamed && !withOld && !errors.Is(rerr, fs.ErrNotExist):
						t.Errorf("path holds %q, %v; want no file", got, rerr)
					}
					temps := tempFiles(t, path)
					leavesTemp := failure == atomicfiletest.ErrCrash && at != atomicfiletest.Create && !renamed
					if leavesTemp != (len(temps) == 1) || len(temps) > 1 {
						t.Fatalf("temporary files %v; want one: %v", temps, leavesTemp)
					}
					removed, err := atomicfile.RemoveTemps(path)
					if err != nil {
						t.Fatal(err)
					}
					if len(removed) != len(temps) {
						t.Errorf("RemoveTemps removed %v, want %v", removed, temps)
					}
					if after, err := os.ReadFile(path); !bytes.Equal(after, got) || (err == nil) != (rerr == nil) {
						t.Errorf("RemoveTemps changed the file")
					}
					if err := atomicfile.Write(path, newData); err != nil {
						t.Fatal(err)
					}
					if got, _ := os.ReadFile(path); !bytes.Equal(got, newData) {
						t.Errorf("next write left %q", got)
					}
				})
			}
		}
	}
}

// TestWrite_Errors makes the real file operations fail.
func TestWrite_Errors(t *testing.T) {
	t.Run("missing folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none", "state.json")
		if err := atomicfile.Write(path, []byte("{}")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Write = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("parent is a file", func(t *testing.T) {
		parent := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(parent, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.Write(filepath.Join(parent, "state.json"), []byte("{}")); err == nil {
			t.Fatal("Write under a regular file succeeded")
		}
	})
	t.Run("path is a folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path, "x"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.Write(path, []byte("{}")); err == nil {
			t.Fatal("Write over a non-empty folder succeeded")
		}
		if temps := tempFiles(t, path); len(temps) > 0 {
			t.Errorf("failed rename left %v", temps)
		}
	})
}

func TestRemoveTemps(t *testing.T) {
	tests := []struct {
		name   string
		dir    string // folder name inside t.TempDir()
		base   string // state file name
		remove []string
		keep   []string
	}{
		{
			name: "leftovers only",
			dir:  "data",
			base: "runtime-state.json",
			remove: []string{
				"runtime-state.json.tmp-123456", "runtime-state.json.tmp-abc", "runtime-state.json.tmp-",
			},
			keep: []string{
				"runtime-state.json",
				"runtime-state.json.corrupt-20261127T010000000Z",
				"runtime-state.json.tmp", // the original daemon's name, not ours
				"runtime-state.json.tmpx",
				"runtime-state.json.bak",
				"other.json.tmp-1",
				"xruntime-state.json.tmp-1",
				"tmp-runtime-state.json",
			},
		},
		{
			name:   "pattern characters in the path",
			dir:    "a[1]*?",
			base:   "st[a]te*.json",
			remove: []string{"st[a]te*.json.tmp-1"},
			keep:   []string{"st[a]te*.json", "sate.json.tmp-1", "stxte.json.tmp-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tt.dir)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, n := range append(slices.Clone(tt.remove), tt.keep...) {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// A folder named like a leftover is not ours either.
			if err := os.Mkdir(filepath.Join(dir, tt.base+".tmp-dir"), 0o755); err != nil {
				t.Fatal(err)
			}
			removed, err := atomicfile.RemoveTemps(filepath.Join(dir, tt.base))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, n := range tt.remove {
				want = append(want, filepath.Join(dir, n))
			}
			if slices.Sort(removed); !slices.Equal(removed, slices.Sorted(slices.Values(want))) {
				t.Errorf("removed %v, want %v", removed, want)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, e := range entries {
				left = append(left, e.Name())
			}
			wantLeft := append(slices.Clone(tt.keep), tt.base+".tmp-dir")
			slices.Sort(wantLeft)
			if !slices.Equal(left, wantLeft) {
				t.Errorf("left %v, want %v", left, wantLeft)
			}
		})
	}
	t.Run("missing folder", func(t *testing.T) {
		removed, err := atomicfile.RemoveTemps(filepath.Join(t.TempDir(), "none", "runtime-state.json"))
		if err != nil || len(removed) != 0 {
			t.Errorf("RemoveTemps = %v, %v; want nothing", removed, err)
		}
	})
}
