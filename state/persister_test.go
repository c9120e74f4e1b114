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

	"github.com/pidicon/pidicon-mqtt/state"
)

const (
	debounce = 10 * time.Second
	maxDelay = 60 * time.Second
)

// persisterFixture is a store with device "demo", a Persister for it and
// the file path. Build it inside a synctest bubble.
type persisterFixture struct {
	t     *testing.T
	path  string
	store *state.Store
	p     *state.Persister
	stop  func() error

	mu       sync.Mutex
	failures []time.Time // when OnError was called, on the fake clock
	lastErr  error
}

func newPersisterFixture(t *testing.T, path string) *persisterFixture {
	t.Helper()
	f := &persisterFixture{t: t, path: path, store: state.NewStore()}
	f.store.Put("demo", demoState())
	f.p = state.NewPersister(f.store, state.PersisterOptions{
		Path:     path,
		Debounce: debounce,
		MaxDelay: maxDelay,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
		OnError: func(err error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.failures = append(f.failures, time.Now())
			f.lastErr = err
		},
	})
	f.stop = startPersister(t, f.p)
	return f
}

// set changes demo's brightness.
func (f *persisterFixture) set(b int) {
	f.t.Helper()
	if _, changed, err := f.store.Apply("demo", state.Patch{Brightness: ptr(b)}, time.Now()); err != nil || !changed {
		f.t.Fatalf("Apply(brightness %d) = changed %v, %v", b, changed, err)
	}
}

// onDiskTime returns the timestamp of demo's entry in the file, if any.
func (f *persisterFixture) onDiskTime() (time.Time, bool) {
	f.t.Helper()
	doc, err := state.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, false
	}
	if err != nil {
		f.t.Fatalf("ReadFile: %v", err)
	}
	e, ok := doc.Devices["demo"]
	return e.Timestamp, ok
}

// onDisk returns demo's brightness in the file, or -1 if there is no file.
func (f *persisterFixture) onDisk() int {
	f.t.Helper()
	doc, err := state.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	if err != nil {
		f.t.Fatalf("ReadFile: %v", err)
	}
	e, ok := doc.Devices["demo"]
	if !ok || e.Brightness == nil {
		f.t.Fatalf("file has no brightness for demo: %+v", doc.Devices)
	}
	return *e.Brightness
}

func (f *persisterFixture) failureTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.failures...)
}

// advance moves the fake clock by d and waits until the Persister is idle.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestPersister_Debounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newPersisterFixture(t, filepath.Join(t.TempDir(), "runtime-state.json"))
		f.set(10)
		advance(3 * time.Second)
		f.set(20) // restarts the debounce
		advance(debounce - time.Millisecond)
		if got := f.onDisk(); got != -1 || f.p.Stats().Writes != 0 {
			t.Fatalf("%v after the last change: file holds %d, %d writes; want nothing yet", debounce-time.Millisecond, got, f.p.Stats().Writes)
		}
		advance(2 * time.Millisecond)
		if got := f.onDisk(); got != 20 {
			t.Fatalf("%v after the last change: file holds %d, want 20", debounce+time.Millisecond, got)
		}
		st := f.p.Stats()
		if st.Writes != 1 || st.Failures != 0 {
			t.Errorf("stats %+v, want one write", st)
		}
		if fi, err := os.Stat(f.path); err != nil || fi.Size() != int64(st.Bytes) {
			t.Errorf("Stats().Bytes = %d, file: %v, %v", st.Bytes, fi, err)
		}
		// Nothing more changes: nothing more is written.
		advance(10 * maxDelay)
		if n := f.p.Stats().Writes; n != 1 {
			t.Errorf("%d writes without a change, want 1", n)
		}
		if err := f.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		if n := f.p.Stats().Writes; n != 1 {
			t.Errorf("stop with nothing pending wrote again: %d writes", n)
		}
	})
}

// TestPersister_MaxDelay changes the state every second, and every
// debounce/2, for minutes, so the debounce never runs out; the file must
// still never lag more than maxDelay behind the oldest change not on it.
func TestPersister_MaxDelay(t *testing.T) {
	for _, every := range []time.Duration{time.Second, debounce / 2} {
		t.Run(every.String(), func(t *testing.T) { testMaxDelay(t, every) })
	}
}

func testMaxDelay(t *testing.T, every time.Duration) {
	synctest.Test(t, func(t *testing.T) {
		f := newPersisterFixture(t, filepath.Join(t.TempDir(), "runtime-state.json"))
		// Timestamps from the bubble's clock (which starts in 2000), so
		// that each change's timestamp tells it apart in the file.
		st := demoState()
		st.Timestamp = time.Time{}
		f.store.Put("demo", st)
		start := time.Now()
		const total = 4*maxDelay + 30*time.Second
		var changedAt []time.Time // changedAt[k]: when the k-th change was made
		for time.Since(start) < total {
			if time.Since(start)%every == 0 {
				f.set(len(changedAt) % 101)
				changedAt = append(changedAt, time.Now())
			}
			advance(time.Second)
			// The oldest change not on disk is the one after what the
			// file holds (changes are told apart by their timestamps).
			oldest := 0
			if ts, ok := f.onDiskTime(); ok {
				oldest = slices.IndexFunc(changedAt, func(c time.Time) bool { return c.Equal(ts) }) + 1
			}
			if oldest < len(changedAt) {
				if lag := time.Since(changedAt[oldest]); lag > maxDelay {
					t.Fatalf("at %v: change %d of %v is not on disk after %v (max delay %v)",
						time.Since(start), oldest, changedAt[oldest].Sub(start), lag, maxDelay)
				}
			}
		}
		writes := f.p.Stats().Writes
		if min := uint64(total / maxDelay); writes < min {
			t.Errorf("%d writes in %v, want at least %d", writes, total, min)
		}
		if max := uint64(total/maxDelay) + 1; writes > max {
			t.Errorf("%d writes in %v of changes every %v: the debounce does not hold them back (want at most %d)", writes, total, every, max)
		}
		if err := f.stop(); err != nil {
			t.Fatal(err)
		}
		if got := f.onDisk(); got != (len(changedAt)-1)%101 {
			t.Errorf("after stop the file holds %d, want the last change %d", got, len(changedAt)-1)
		}
	})
}

func TestPersister_Flush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newPersisterFixture(t, filepath.Join(t.TempDir(), "runtime-state.json"))
		f.set(33)
		before := time.Now()
		if err := f.p.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if !time.Now().Equal(before) {
			t.Errorf("Flush waited %v of fake time", time.Since(before))
		}
		if got := f.onDisk(); got != 33 {
			t.Fatalf("after Flush the file holds %d, want 33", got)
		}
		// The debounce timer still runs out later; it finds nothing new.
		advance(2 * maxDelay)
		if n := f.p.Stats().Writes; n != 1 {
			t.Errorf("%d writes, want 1", n)
		}
		// Flush with nothing new returns nil and writes nothing.
		if err := f.p.Flush(context.Background()); err != nil {
			t.Errorf("second Flush: %v", err)
		}
		if n := f.p.Stats().Writes; n != 1 {
			t.Errorf("%d writes after an idle Flush, want 1", n)
		}
		if err := f.stop(); err != nil {
			t.Fatal(err)
		}
		// Without Run, Flush gives up when its context ends.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := f.p.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush without Run = %v, want DeadlineExceeded", err)
		}
	})
}

func TestPersister_FinalWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newPersisterFixture(t, filepath.Join(t.TempDir(), "runtime-state.json"))
		f.set(44)
		advance(debounce / 2)
		if f.onDisk() != -1 {
			t.Fatal("written before the debounce ran out")
		}
		if err := f.stop(); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if got := f.onDisk(); got != 44 {
			t.Fatalf("after stop the file holds %d, want 44", got)
		}
		if n := f.p.Stats().Writes; n != 1 {
			t.Errorf("%d writes, want 1", n)
		}
	})
}

func TestPersister_NoChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := newPersisterFixture(t, filepath.Join(dir, "runtime-state.json"))
		// A set that changes nothing is not a change.
		if _, changed, _ := f.store.Apply("demo", state.Patch{Brightness: ptr(75)}, time.Now()); changed {
			t.Fatal("no-op Apply reported a change")
		}
		advance(10 * maxDelay)
		if err := f.p.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if err := f.stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st := f.p.Stats(); st.Writes != 0 || st.Failures != 0 {
			t.Errorf("stats %+v, want no write at all", st)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("files created without a change: %v", entries)
		}
	})
}

// TestPersister_FailingWrite writes into a folder that does not exist yet:
// every attempt fails and is reported, retries back off (never more than a
// minute apart), the store keeps its state, and once the folder exists the
// next attempt writes it.
func TestPersister_FailingWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "later")
		f := newPersisterFixture(t, filepath.Join(dir, "runtime-state.json"))
		start := time.Now()
		f.set(55)

		advance(debounce - time.Millisecond)
		if n := len(f.failureTimes()); n != 0 {
			t.Fatalf("%d attempts before the debounce ran out", n)
		}
		advance(time.Millisecond)
		if n := len(f.failureTimes()); n != 1 {
			t.Fatalf("%d failed attempts at the debounce, want 1", n)
		}
		f.mu.Lock()
		err := f.lastErr
		f.mu.Unlock()
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("OnError got %v, want fs.ErrNotExist", err)
		}
		// A change while failing neither hurries nor resets the retries.
		advance(500 * time.Millisecond)
		f.set(56)
		advance(499 * time.Millisecond)
		if n := len(f.failureTimes()); n != 1 {
			t.Errorf("a change during the backoff caused an attempt: %d", n)
		}

		advance(30*time.Minute - time.Since(start))
		times := f.failureTimes()
		if st := f.p.Stats(); st.Failures != uint64(len(times)) || st.Writes != 0 {
			t.Errorf("stats %+v, want %d failures and no write", st, len(times))
		}
		if len(times) < 10 {
			t.Fatalf("only %d attempts in 30 minutes", len(times))
		}
		// Attempts back off: each gap at least the one before, capped at a
		// minute, the first a second.
		if gap := times[1].Sub(times[0]); gap != time.Second {
			t.Errorf("first retry after %v, want 1s", gap)
		}
		for i := 2; i < len(times); i++ {
			gap, prev := times[i].Sub(times[i-1]), times[i-1].Sub(times[i-2])
			if gap < prev || gap > time.Minute {
				t.Errorf("attempt %d came %v after the one before (previous gap %v)", i, gap, prev)
			}
		}
		if last := times[len(times)-1].Sub(times[len(times)-2]); last != time.Minute {
			t.Errorf("backoff settles at %v, want 1m", last)
		}
		if st, _ := f.store.Get("demo"); st.Brightness != 56 {
			t.Errorf("store lost the state: %+v", st)
		}

		// The folder appears: the next attempt succeeds.
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		advance(time.Minute)
		if got := f.onDisk(); got != 56 {
			t.Fatalf("file holds %d after the folder appeared, want 56", got)
		}
		failed := len(f.failureTimes())
		if st := f.p.Stats(); st.Writes != 1 {
			t.Errorf("stats %+v, want one write", st)
		}
		// And the retries stop.
		advance(10 * time.Minute)
		if n := len(f.failureTimes()); n != failed || f.p.Stats().Writes != 1 {
			t.Errorf("attempts went on after success: %d failures, %+v", n, f.p.Stats())
		}
		// A later change goes back to the plain debounce.
		f.set(57)
		advance(debounce)
		if got := f.onDisk(); got != 57 {
			t.Errorf("next change: file holds %d, want 57", got)
		}
		if err := f.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// TestPersister_FinalWriteFails checks that Run reports a last write that
// cannot be done, and that a path whose parent is a regular file fails.
func TestPersister_FinalWriteFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(parent, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		f := newPersisterFixture(t, filepath.Join(parent, "runtime-state.json"))
		f.set(66)
		err := f.stop()
		if err == nil {
			t.Fatal("Run = nil, want the final write's error")
		}
		if n := len(f.failureTimes()); n != 1 {
			t.Errorf("OnError called %d times, want 1", n)
		}
		if st, _ := f.store.Get("demo"); st.Brightness != 66 {
			t.Errorf("store lost the state: %+v", st)
		}
	})
}

// TestPersister_ChangesBeforeRun checks that changes made after
// NewPersister but before Run is scheduled (the daemon's restore at
// start-up) are written; Run used to take them as already on disk.
func TestPersister_ChangesBeforeRun(t *testing.T) {
	tests := []struct {
		name  string
		flush bool // Flush at once instead of waiting for the debounce
	}{
		{"debounce", false},
		{"flush", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "runtime-state.json")
				s := state.NewStore()
				p := state.NewPersister(s, state.PersisterOptions{Path: path, Debounce: debounce, MaxDelay: maxDelay})
				st := demoState()
				st.Brightness = 12
				s.Put("demo", st) // before Run
				stop := startPersister(t, p)
				if tt.flush {
					if err := p.Flush(context.Background()); err != nil {
						t.Fatal(err)
					}
				} else {
					advance(debounce)
				}
				doc, err := state.ReadFile(path)
				if err != nil {
					t.Fatalf("change made before Run was not written: %v", err)
				}
				if b := doc.Devices["demo"].Brightness; b == nil || *b != 12 {
					t.Errorf("file holds %+v", doc.Devices["demo"])
				}
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				if n := p.Stats().Writes; n != 1 {
					t.Errorf("%d writes, want 1", n)
				}
			})
		})
	}
}
