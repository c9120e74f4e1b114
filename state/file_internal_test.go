package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// steps lists writeAtomic's steps in order.
var steps = []string{stepCreate, stepWrite, stepSync, stepClose, stepRename, stepSyncDir}

// tempFiles lists the temporary files of path's writes.
func tempFiles(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(path)+".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func testDocument(t *testing.T, brightness int) []byte {
	t.Helper()
	ts := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	snap := snapshot{devices: map[string]State{
		"demo": {ActiveScene: "clock", PlayState: Playing, Brightness: brightness, DisplayOn: true, LoggingLevel: LevelWarning, Timestamp: ts},
	}}
	b, err := encodeDocument(snap, ts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWriteAtomic_Interrupted stops a write before each of its steps, with
// an ordinary error (clean-up runs) and with errCrash (as if the process
// died there), with and without an old file. What is at path afterwards
// must be the complete old file or the complete new one.
func TestWriteAtomic_Interrupted(t *testing.T) {
	oldData, newData := testDocument(t, 10), testDocument(t, 90)
	errDisk := errors.New("disk on fire")
	for _, withOld := range []bool{true, false} {
		for _, failure := range []error{errDisk, errCrash} {
			for i, at := range steps {
				name := "old file/"
				if !withOld {
					name = "no old file/"
				}
				name += map[error]string{errDisk: "error", errCrash: "crash"}[failure] + "/before " + at
				t.Run(name, func(t *testing.T) {
					path := filepath.Join(t.TempDir(), "runtime-state.json")
					if withOld {
						if err := writeAtomic(path, oldData, nil); err != nil {
							t.Fatal(err)
						}
					}
					var seen []string
					hook := func(step string) error {
						seen = append(seen, step)
						if step == at {
							return failure
						}
						return nil
					}
					err := writeAtomic(path, newData, hook)
					if !errors.Is(err, failure) {
						t.Fatalf("writeAtomic = %v, want %v", err, failure)
					}
					if !slices.Equal(seen, steps[:i+1]) {
						t.Errorf("steps run %v, want %v", seen, steps[:i+1])
					}

					// Only the folder sync is left when the rename is done:
					// then the new file is in place.
					renamed := at == stepSyncDir
					got, rerr := os.ReadFile(path)
					switch {
					case renamed && !bytes.Equal(got, newData):
						t.Errorf("after the rename, path holds %q, %v; want the new file", got, rerr)
					case !renamed && withOld && !bytes.Equal(got, oldData):
						t.Errorf("path holds %q, %v; want the complete old file", got, rerr)
					case !renamed && !withOld && !errors.Is(rerr, fs.ErrNotExist):
						t.Errorf("path holds %q, %v; want no file", got, rerr)
					}
					if rerr == nil {
						if _, err := ParseDocument(got); err != nil {
							t.Errorf("file at path does not parse: %v", err)
						}
					}

					temps := tempFiles(t, path)
					leavesTemp := failure == errCrash && at != stepCreate && !renamed
					if leavesTemp != (len(temps) == 1) || len(temps) > 1 {
						t.Fatalf("temporary files %v; want one: %v", temps, leavesTemp)
					}
					removed, err := RemoveTemps(path)
					if err != nil {
						t.Fatal(err)
					}
					if len(removed) != len(temps) {
						t.Errorf("RemoveTemps removed %v, want %v", removed, temps)
					}
					if left := tempFiles(t, path); len(left) > 0 {
						t.Errorf("temporary files left after RemoveTemps: %v", left)
					}
					// RemoveTemps never touches the state file itself.
					if after, err := os.ReadFile(path); !bytes.Equal(after, got) || (err == nil) != (rerr == nil) {
						t.Errorf("RemoveTemps changed the state file")
					}

					// The next write succeeds and replaces whatever is there.
					if err := writeAtomic(path, newData, nil); err != nil {
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

// TestWriteAtomic_Errors makes the real file operations fail.
func TestWriteAtomic_Errors(t *testing.T) {
	t.Run("missing folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none", "runtime-state.json")
		if err := writeAtomic(path, []byte("{}"), nil); err == nil || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("writeAtomic = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("parent is a file", func(t *testing.T) {
		parent := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(parent, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := writeAtomic(filepath.Join(parent, "runtime-state.json"), []byte("{}"), nil); err == nil {
			t.Fatal("writeAtomic under a regular file succeeded")
		}
	})
	t.Run("path is a folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "runtime-state.json")
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path, "x"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := writeAtomic(path, []byte("{}"), nil); err == nil {
			t.Fatal("writeAtomic over a non-empty folder succeeded")
		}
		if temps := tempFiles(t, path); len(temps) > 0 {
			t.Errorf("failed rename left %v", temps)
		}
	})
}

// TestPersister_HookFailure checks that a write failing in the middle is
// retried and that the file never holds a partial document.
func TestPersister_HookFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime-state.json")
	s := NewStore()
	s.Put("demo", State{ActiveScene: "clock", PlayState: Playing, Brightness: 10, DisplayOn: true, LoggingLevel: LevelWarning,
		Timestamp: time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)})
	p := NewPersister(s, PersisterOptions{Path: path, Debounce: time.Second, MaxDelay: time.Minute})
	fail := true
	p.hook = func(step string) error {
		if fail && step == stepRename {
			return errors.New("rename refused")
		}
		return nil
	}
	// Drive write directly: Run is tested in persister_test.go.
	if _, err := p.write(s.snapshot()); err == nil {
		t.Fatal("write with a failing rename succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed first write left a file: %v", err)
	}
	if temps := tempFiles(t, path); len(temps) > 0 {
		t.Errorf("failed write left %v", temps)
	}
	fail = false
	n, err := p.write(s.snapshot())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Get("demo"); doc.Devices["demo"].Apply(State{}) != (State{ActiveScene: st.ActiveScene, PlayState: st.PlayState, Brightness: st.Brightness, DisplayOn: st.DisplayOn, LoggingLevel: st.LoggingLevel}) {
		t.Errorf("file holds %+v", doc.Devices["demo"])
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(n) {
		t.Errorf("write reported %d bytes, file has %d", n, fi.Size())
	}
}

// TestEncodeDocument_LeavesOutUndated checks that a device that only has
// its defaults (no timestamp: never restored or changed) is not written: an
// entry would carry the file's timestamp and beat the broker's real state.
func TestEncodeDocument_LeavesOutUndated(t *testing.T) {
	s := NewStore()
	s.Put("fresh", State{ActiveScene: "startup", PlayState: Playing, Brightness: 75, DisplayOn: true, LoggingLevel: LevelWarning})
	s.Put("known", State{ActiveScene: "clock", PlayState: Paused, Brightness: 5, DisplayOn: true, LoggingLevel: LevelInfo,
		Timestamp: time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)})
	b, err := encodeDocument(s.snapshot(), time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ParseDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Devices["fresh"]; ok {
		t.Error("an undated device was written")
	}
	if _, ok := doc.Devices["known"]; !ok {
		t.Error("a dated device is missing")
	}
}

// TestEncodeDocument_SameAsMarshalIndent checks the hand-written encoder
// against encoding/json's indented output, with names that need escaping.
func TestEncodeDocument_SameAsMarshalIndent(t *testing.T) {
	s := NewStore()
	ts := time.Date(2026, 11, 27, 1, 2, 3, 4_000_000, time.UTC)
	for i, scene := range []string{"clock", `quote"d`, "back\\slash", "<b>&amp;", "ünïcødé", "emoji 🎉"} {
		s.Put(fmt.Sprintf("d%02d", i), State{ActiveScene: scene, PlayState: Paused, Brightness: i * 10, DisplayOn: i%2 == 0,
			LoggingLevel: LevelDebug, Timestamp: ts})
	}
	s.Keep(map[string]json.RawMessage{"192.168.1.9": json.RawMessage(`{"activeScene":"fill","loggingLevel":null}`)})
	now := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	got, err := encodeDocument(s.snapshot(), now)
	if err != nil {
		t.Fatal(err)
	}
	snap := s.snapshot()
	devices := map[string]json.RawMessage{}
	for k, v := range snap.kept {
		devices[k] = v
	}
	for id, st := range snap.devices {
		devices[id], _ = json.Marshal(st.wire(true))
	}
	want, _ := json.MarshalIndent(struct {
		Version   int                        `json:"version"`
		Timestamp string                     `json:"timestamp"`
		Devices   map[string]json.RawMessage `json:"devices"`
	}{FileVersion, FormatTime(now), devices}, "", "  ")
	want = append(want, '\n')
	if string(got) != string(want) {
		t.Errorf("encodeDocument:\n%s\nMarshalIndent:\n%s", got, want)
	}
	if _, err := ParseDocument(got); err != nil {
		t.Errorf("the written document does not parse: %v", err)
	}
}
