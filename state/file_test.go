package state_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pidicon/pidicon-mqtt/state"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from what the Persister writes")

const (
	goldenPath = "testdata/golden.json"
	seedPath   = "testdata/seed-pidicon.json"
)

// startPersister runs p in the current synctest bubble until the returned
// func is called; that func returns Run's error. Once it returns, Run is
// idle, waiting for a change, a timer or a Flush.
func startPersister(t *testing.T, p *state.Persister) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	synctest.Wait()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-errc
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// writeStore writes s to path with a Persister, as the daemon does, and
// returns the file's content. It must run in a synctest bubble.
func writeStore(t *testing.T, path string, s *state.Store, fill func()) []byte {
	t.Helper()
	p := state.NewPersister(s, state.PersisterOptions{Path: path, Debounce: 10 * time.Second, MaxDelay: time.Minute})
	stop := startPersister(t, p)
	fill()
	if err := p.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden checks the written file byte for byte. The bubble's fake clock
// is moved to t0, so the file's own timestamp is t0 too.
func TestGolden(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(time.Until(t0))
		if !time.Now().Equal(t0) {
			t.Fatalf("fake clock at %v, want %v", time.Now(), t0)
		}
		path := filepath.Join(t.TempDir(), "runtime-state.json")
		s := state.NewStore()
		got := writeStore(t, path, s, func() { s.Put("demo", demoState()) })
		if *update {
			if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(goldenPath)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("written file differs from %s (run with -update if the change is meant)\ngot:\n%s\nwant:\n%s", goldenPath, got, want)
		}
	})
}

// contractExample is the file of the contract, section 4.
const contractExample = `{
  "version": 1,
  "timestamp": "2026-11-27T01:00:00.000Z",
  "devices": {
    "demo": {
      "activeScene": "clock",
      "playState": "playing",
      "brightness": 75,
      "displayOn": true,
      "loggingLevel": "warning"
    }
  }
}`

// TestGolden_MatchesContract checks that the golden file has the contract's
// structure: the same keys and values, plus at most a per-device timestamp
// and the scene parameters (CONTRACT §7: an extra per-device key).
func TestGolden_MatchesContract(t *testing.T) {
	var got, want map[string]any
	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(contractExample), &want); err != nil {
		t.Fatal(err)
	}
	demo := got["devices"].(map[string]any)["demo"].(map[string]any)
	ts, ok := demo["timestamp"]
	if ok {
		if _, err := state.ParseTime(ts.(string)); err != nil {
			t.Errorf("per-device timestamp: %v", err)
		}
		delete(demo, "timestamp")
	}
	if p, ok := demo["sceneParams"].(map[string]any); !ok || len(p) != 0 {
		t.Errorf("sceneParams = %v, want {}", demo["sceneParams"])
	}
	delete(demo, "sceneParams")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("golden file does not match the contract's example:\n got %v\nwant %v", got, want)
	}
	if !bytes.HasPrefix(b, []byte("{\n  \"version\": 1,\n  \"timestamp\": ")) || !bytes.HasSuffix(b, []byte("}\n")) {
		t.Errorf("layout differs from the contract's example:\n%s", b)
	}
}

func TestRoundTrip(t *testing.T) {
	states := map[string]state.State{
		"demo":    demoState(),
		"kitchen": {ActiveScene: "Uhr ⏰ <grün> & \"rot\"", PlayState: state.Paused, Brightness: 0, DisplayOn: false, LoggingLevel: state.LevelSilent, Timestamp: t0.Add(123 * time.Millisecond)},
		"attic":   {ActiveScene: "fill", PlayState: state.Stopped, Brightness: 100, DisplayOn: true, LoggingLevel: state.LevelDebug, Timestamp: t0.Add(-time.Hour)},
		// Nanoseconds are not written: the file keeps milliseconds.
		"precise": {ActiveScene: "empty", PlayState: state.Playing, Brightness: 1, DisplayOn: true, LoggingLevel: state.LevelInfo, Timestamp: t0.Add(456789 * time.Microsecond)},
	}
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "runtime-state.json")
		s := state.NewStore()
		writeStore(t, path, s, func() {
			for id, st := range states {
				s.Put(id, st)
			}
		})
		doc, err := state.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !doc.Timestamp.Equal(time.Now()) {
			t.Errorf("file timestamp %v, want the time of writing %v", doc.Timestamp, time.Now())
		}
		if got := slices.Sorted(maps.Keys(doc.Devices)); !slices.Equal(got, slices.Sorted(maps.Keys(states))) {
			t.Fatalf("devices in the file: %v", got)
		}
		for id, want := range states {
			e, _ := doc.Entry(id)
			if len(e.Missing()) > 0 {
				t.Errorf("%s: fields missing in the file: %v", id, e.Missing())
			}
			got := e.Apply(state.State{})
			got.Timestamp = e.Timestamp
			want.Timestamp = want.Timestamp.Truncate(time.Millisecond)
			if got != want {
				t.Errorf("%s: read back %+v\nwant         %+v", id, got, want)
			}
		}
	})
}

// TestRoundTrip_KeptEntries checks that entries no configured device claims
// (here the original daemon's IP keys) are written back, nulls included.
func TestRoundTrip_KeptEntries(t *testing.T) {
	seed, err := state.ReadFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "runtime-state.json")
		s := state.NewStore()
		writeStore(t, path, s, func() {
			s.Keep(seed.Raw)
			s.Put("demo", demoState())
		})
		doc, err := state.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for key, want := range seed.Devices {
			got, ok := doc.Devices[key]
			if !ok {
				t.Errorf("entry %s was dropped", key)
				continue
			}
			if patchString(got.Patch) != patchString(want.Patch) || !got.Timestamp.Equal(want.Timestamp) {
				t.Errorf("entry %s: %s, want %s", key, patchString(got.Patch), patchString(want.Patch))
			}
		}
		if _, ok := doc.Devices["demo"]; !ok {
			t.Error("demo missing")
		}
	})
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "runtime-state.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadFile_Missing(t *testing.T) {
	_, err := state.ReadFile(filepath.Join(t.TempDir(), "runtime-state.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile(missing) = %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, state.ErrCorrupt) {
		t.Error("a missing file is reported as corrupt")
	}
}

func TestReadFile_Corrupt(t *testing.T) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	g := string(golden)
	entry := func(fields string) string { return `{"version":1,"devices":{"demo":{` + fields + `}}}` }
	tests := []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"blank", " \n\t"},
		{"not JSON", "this is not json"},
		{"NUL bytes", "\x00\x00\x00\x00"},
		{"null", "null"},
		{"array", `[{"version":1}]`},
		{"string", `"devices"`},
		{"number", `1`},
		{"truncated", g[:len(g)/2]},
		{"truncated by one byte", g[:len(g)-2]},
		{"trailing garbage", g + "garbage"},
		{"trailing brace", g + "}"},
		{"trailing bracket", g + "]\n"},
		{"two objects", g + g},
		{"unknown version", strings.Replace(g, `"version": 1`, `"version": 2`, 1)},
		{"version zero", `{"version":0,"devices":{}}`},
		{"version as text", `{"version":"two","devices":{}}`},
		{"version object", `{"version":{},"devices":{}}`},
		{"brightness 500", strings.Replace(g, `"brightness": 75`, `"brightness": 500`, 1)},
		{"brightness fraction", entry(`"brightness":7.5`)},
		{"brightness as string", entry(`"brightness":"75"`)},
		{"bad play state", entry(`"playState":"running"`)},
		{"bad logging level", entry(`"loggingLevel":"loud"`)},
		{"display on number", entry(`"displayOn":2`)},
		{"scene with control character", entry(`"activeScene":"a\u0007b"`)},
		{"scene too long", entry(`"activeScene":"` + strings.Repeat("x", state.MaxSceneName+1) + `"`)},
		{"invalid UTF-8 in an entry", entry("\"activeScene\":\"clo\xffck\"")},
		{"bad device timestamp", entry(`"timestamp":"soon"`)},
		{"bad file timestamp", `{"version":1,"timestamp":"2026-13-45","devices":{}}`},
		{"file timestamp number", `{"version":1,"timestamp":5,"devices":{}}`},
		{"devices array", `{"version":1,"devices":[{"activeScene":"clock"}]}`},
		{"devices string", `{"version":1,"devices":"demo"}`},
		{"devices number", `{"version":1,"devices":1}`},
		{"device entry string", `{"version":1,"devices":{"demo":"clock"}}`},
		{"device entry array", `{"version":1,"devices":{"demo":[]}}`},
		{"device entry null", `{"version":1,"devices":{"demo":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.content)
			doc, err := state.ReadFile(path)
			if !errors.Is(err, state.ErrCorrupt) {
				t.Fatalf("ReadFile = %+v, %v; want ErrCorrupt", doc, err)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Error("a corrupt file is reported as missing")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestReadFile_Accepts(t *testing.T) {
	tests := []struct {
		name    string
		content string
		devices int
	}{
		{"minimal", `{"version":1,"devices":{}}`, 0},
		{"no version", `{"devices":{"demo":{"brightness":5}}}`, 1},
		{"null version", `{"version":null,"devices":{}}`, 0},
		{"no devices", `{"version":1,"timestamp":"2026-11-27T01:00:00.000Z"}`, 0},
		{"null devices", `{"version":1,"devices":null}`, 0},
		{"surrounding white space", "\n\t {\"version\":1,\"devices\":{}} \r\n", 0},
		{"unknown top-level fields", `{"version":1,"daemon":{"pid":1},"extra":[1,2],"devices":{}}`, 0},
		{"unknown entry fields", `{"version":1,"devices":{"demo":{"brightness":5,"generationId":9,"status":"running"}}}`, 1},
		{"null fields", `{"version":1,"devices":{"demo":{"activeScene":null,"playState":null,"brightness":null,"displayOn":null,"loggingLevel":null,"timestamp":null}}}`, 1},
		{"empty entry", `{"version":1,"devices":{"demo":{}}}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := state.ReadFile(writeTemp(t, tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if len(doc.Devices) != tt.devices || len(doc.Raw) != tt.devices {
				t.Errorf("%d devices, %d raw entries; want %d", len(doc.Devices), len(doc.Raw), tt.devices)
			}
		})
	}
}

// TestReadFile_Seed reads a file of the original pidicon daemon: IP
// addresses as keys, a daemon object, null fields, no version.
func TestReadFile_Seed(t *testing.T) {
	doc, err := state.ReadFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	wantTS := time.Date(2025, 10, 14, 12, 0, 0, 0, time.UTC)
	if !doc.Timestamp.Equal(wantTS) {
		t.Errorf("timestamp %v, want %v", doc.Timestamp, wantTS)
	}
	if got := slices.Sorted(maps.Keys(doc.Devices)); !slices.Equal(got, []string{"192.168.1.159", "192.168.1.189"}) {
		t.Fatalf("device keys %v", got)
	}
	a := doc.Devices["192.168.1.159"]
	if a.LoggingLevel != nil {
		t.Errorf("null loggingLevel read as %q", *a.LoggingLevel)
	}
	if a.ActiveScene == nil || *a.ActiveScene != "startup" || a.Brightness == nil || *a.Brightness != 75 ||
		a.PlayState == nil || *a.PlayState != state.Playing || a.DisplayOn == nil || !*a.DisplayOn {
		t.Errorf("192.168.1.159 read as %s", patchString(a.Patch))
	}
	if !a.Timestamp.IsZero() {
		t.Errorf("entry has its own timestamp %v; the file has none per device", a.Timestamp)
	}
	b := doc.Devices["192.168.1.189"]
	if b.ActiveScene != nil || b.LoggingLevel != nil {
		t.Errorf("null fields of 192.168.1.189 read as %s", patchString(b.Patch))
	}
	if e, _ := doc.Entry("192.168.1.189"); !e.Timestamp.Equal(wantTS) {
		t.Errorf("Entry timestamp %v, want the file's %v", e.Timestamp, wantTS)
	}
	// The same file with the version the original daemon wrote.
	raw, _ := os.ReadFile(seedPath)
	withVersion := strings.Replace(string(raw), "{", `{"version": 1,`, 1)
	if _, err := state.ParseDocument([]byte(withVersion)); err != nil {
		t.Errorf("seed with version 1: %v", err)
	}
}

func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "runtime-state.json")
	at := time.Date(2026, 11, 27, 2, 0, 0, 0, time.FixedZone("CET", 3600)) // 01:00 UTC
	var names []string
	for i, content := range []string{"first", "second", "third"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		name, err := state.Quarantine(path, at)
		if err != nil {
			t.Fatalf("Quarantine #%d: %v", i+1, err)
		}
		if !strings.HasPrefix(name, path+".corrupt-") || !strings.Contains(name, "20261127T010000") {
			t.Errorf("quarantined as %s, want %s.corrupt-<UTC time>", name, path)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("original still there after Quarantine #%d: %v", i+1, err)
		}
		names = append(names, name)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
		t.Fatalf("names are not unique: %v", names)
	}
	for i, want := range []string{"first", "second", "third"} {
		got, err := os.ReadFile(names[i])
		if err != nil || string(got) != want {
			t.Errorf("%s holds %q, %v; want %q", names[i], got, err, want)
		}
	}
	// A later time gets its own name.
	if err := os.WriteFile(path, []byte("fourth"), 0o600); err != nil {
		t.Fatal(err)
	}
	later, err := state.Quarantine(path, at.Add(time.Second))
	if err != nil || slices.Contains(names, later) {
		t.Errorf("Quarantine at a later time = %s, %v", later, err)
	}

	t.Run("missing file", func(t *testing.T) {
		if _, err := state.Quarantine(filepath.Join(t.TempDir(), "none.json"), at); err == nil {
			t.Error("Quarantine of a missing file succeeded")
		}
	})
}
