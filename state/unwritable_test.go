package state_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

// TestPersister_BeforeWriteFailing: while BeforeWrite fails (the daemon's
// unusable file not moved aside yet), nothing is written over the file,
// not even by the final write; every attempt is reported and retried with
// backoff, and Stats().Err says why. Once it passes, the next retry writes.
func TestPersister_BeforeWriteFailing(t *testing.T) {
	for _, name := range []string{"retry", "final write"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "runtime-state.json")
				const corrupt = `{"version":1,"devices":{"demo":{`
				if err := os.WriteFile(path, []byte(corrupt), 0o600); err != nil {
					t.Fatal(err)
				}
				store := state.NewStore()
				store.Put("demo", demoState())
				var (
					mu       sync.Mutex
					refusal  = errors.New("the file could not be moved aside")
					blocked  = true
					reported []error
				)
				p := state.NewPersister(store, state.PersisterOptions{
					Path:     path,
					Debounce: debounce,
					MaxDelay: maxDelay,
					Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
					BeforeWrite: func() error {
						mu.Lock()
						defer mu.Unlock()
						if blocked {
							return refusal
						}
						return nil
					},
					OnError: func(err error) {
						mu.Lock()
						defer mu.Unlock()
						reported = append(reported, err)
					},
				})
				stop := startPersister(t, p)
				if _, _, err := store.Apply("demo", state.Patch{Brightness: ptr(20)}, time.Now()); err != nil {
					t.Fatal(err)
				}
				advance(debounce + 10*time.Second)
				if got, _ := os.ReadFile(path); string(got) != corrupt {
					t.Fatalf("the file was written over while BeforeWrite failed: %q", got)
				}
				mu.Lock()
				n := len(reported)
				first := error(nil)
				if n > 0 {
					first = reported[0]
				}
				mu.Unlock()
				if n < 3 || !errors.Is(first, refusal) {
					t.Errorf("%d attempts reported (first %v) in 10 s of retries, want at least 3 with BeforeWrite's error", n, first)
				}
				if st := p.Stats(); st.Writes != 0 || !errors.Is(st.Err, refusal) {
					t.Errorf("stats %+v, want no write and Err = BeforeWrite's error", st)
				}
				if name == "final write" {
					if err := stop(); !errors.Is(err, refusal) {
						t.Errorf("Run = %v, want the final write to fail with BeforeWrite's error", err)
					}
					if got, _ := os.ReadFile(path); string(got) != corrupt {
						t.Errorf("the final write went over the file: %q", got)
					}
					return
				}
				mu.Lock()
				blocked = false
				mu.Unlock()
				advance(time.Minute)
				doc, err := state.ReadFile(path)
				if err != nil {
					t.Fatalf("after BeforeWrite passed: %v", err)
				}
				if e := doc.Devices["demo"]; e.Brightness == nil || *e.Brightness != 20 {
					t.Errorf("file holds %+v, want brightness 20", e)
				}
				if st := p.Stats(); st.Writes != 1 || st.Err != nil {
					t.Errorf("stats %+v, want one write and no error", st)
				}
				if err := stop(); err != nil {
					t.Errorf("Run: %v", err)
				}
			})
		})
	}
}

// TestPersister_Probe: in a folder that takes no new file, Probe fails at
// once (before any change), leaves nothing behind and keeps its error in
// Stats().Err until a write succeeds.
func TestPersister_Probe(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "runtime-state.json")
	store := state.NewStore()
	p := state.NewPersister(store, state.PersisterOptions{Path: path, Debounce: time.Hour, MaxDelay: time.Hour})
	if err := p.Probe(); err != nil {
		t.Fatalf("Probe of a writable folder: %v", err)
	}
	if p.Stats().Err != nil {
		t.Fatalf("Stats().Err = %v after a good Probe", p.Stats().Err)
	}
	writable := testkit.ReadOnlyDir(t, dir)
	err := p.Probe()
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Probe of a read-only folder = %v, want a permission error", err)
	}
	if got := p.Stats().Err; !errors.Is(got, fs.ErrPermission) {
		t.Errorf("Stats().Err = %v, want the Probe's error", got)
	}
	writable()
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("Probe left %v", names)
	}
	// The folder is writable again: the Probe's error stays until a write.
	if got := p.Stats().Err; got == nil {
		t.Error("Stats().Err cleared without a write")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	store.Put("demo", demoState())
	if err := p.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := p.Stats(); st.Err != nil || st.Writes != 1 {
		t.Errorf("stats %+v after a write, want no error", st)
	}

	t.Run("BeforeWrite fails", func(t *testing.T) {
		refusal := errors.New("not yet")
		p := state.NewPersister(state.NewStore(), state.PersisterOptions{
			Path: filepath.Join(t.TempDir(), "runtime-state.json"), BeforeWrite: func() error { return refusal },
		})
		if err := p.Probe(); !errors.Is(err, refusal) || !errors.Is(p.Stats().Err, refusal) {
			t.Errorf("Probe = %v, Stats().Err = %v; want BeforeWrite's error", err, p.Stats().Err)
		}
	})
}

// TestQuarantine_ReadOnlyFolder: a file that cannot be moved aside stays
// as it was, with nothing left beside it; a later attempt moves it.
func TestQuarantine_ReadOnlyFolder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "runtime-state.json")
	const content = "not JSON"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	writable := testkit.ReadOnlyDir(t, dir)
	if name, err := state.Quarantine(path, at); err == nil {
		t.Fatalf("Quarantine in a read-only folder moved the file to %s", name)
	}
	writable()
	if got, err := os.ReadFile(path); err != nil || string(got) != content {
		t.Fatalf("the file after a failed Quarantine: %q, %v", got, err)
	}
	if names := entries(t, dir); !slices.Equal(names, []string{"runtime-state.json"}) {
		t.Errorf("the folder holds %v after a failed Quarantine, want only the file", names)
	}
	name, err := state.Quarantine(path, at)
	if err != nil {
		t.Fatalf("Quarantine once writable: %v", err)
	}
	if got, _ := os.ReadFile(name); string(got) != content {
		t.Errorf("%s holds %q, want %q", name, got, content)
	}
}

// TestQuarantine_FinishesEarlierAttempt: an attempt that linked the file
// aside but could not remove it is finished by the next one with the same
// time, not repeated under a second name.
func TestQuarantine_FinishesEarlierAttempt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "runtime-state.json")
	if err := os.WriteFile(path, []byte("not JSON"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	earlier := path + ".corrupt-20261127T010000000Z"
	if err := os.Link(path, earlier); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	name, err := state.Quarantine(path, at)
	if err != nil {
		t.Fatal(err)
	}
	if name != earlier {
		t.Errorf("moved to %s, want the earlier attempt's %s", name, earlier)
	}
	if names := entries(t, dir); !slices.Equal(names, []string{filepath.Base(earlier)}) {
		t.Errorf("the folder holds %v, want only %s", names, filepath.Base(earlier))
	}
	// Another file under a taken name is never replaced.
	if err := os.WriteFile(path, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	second, err := state.Quarantine(path, at)
	if err != nil || second == earlier {
		t.Errorf("second Quarantine = %s, %v; want a new name", second, err)
	}
	if got, _ := os.ReadFile(earlier); string(got) != "not JSON" {
		t.Errorf("the earlier quarantined file was replaced: %q", got)
	}
}

// TestQuarantine_Gone: a file that is no longer there gives an error
// wrapping fs.ErrNotExist, so the caller knows nothing is left to protect.
func TestQuarantine_Gone(t *testing.T) {
	_, err := state.Quarantine(filepath.Join(t.TempDir(), "none.json"), time.Now())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Quarantine of a missing file = %v, want fs.ErrNotExist", err)
	}
}
