package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/atomicfile/atomicfiletest"
)

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

// TestPersister_HookFailure checks that a write failing in the middle is
// retried and that the file never holds a partial document.
func TestPersister_HookFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime-state.json")
	s := NewStore()
	s.Put("demo", State{ActiveScene: "clock", PlayState: Playing, Brightness: 10, DisplayOn: true, LoggingLevel: LevelWarning,
		Timestamp: time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)})
	p := NewPersister(s, PersisterOptions{Path: path, Debounce: time.Second, MaxDelay: time.Minute})
	fail := true
	p.fs = &atomicfiletest.FS{Fail: func(op atomicfiletest.Op) error {
		if fail && op == atomicfiletest.Rename {
			return errors.New("rename refused")
		}
		return nil
	}}
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
		devices[id], _ = json.Marshal(st)
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
