package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/state"
)

// Persist is the state file's write time for one number of devices, next
// to a plain write + fsync of as many bytes in the same folder.
type Persist struct {
	Devices        int     `json:"devices"`
	Bytes          int     `json:"bytes"`
	BytesPerDevice float64 `json:"bytes_per_device"`
	// Write is the daemon's atomic write (encode, temporary file, write,
	// fsync, rename, fsync of the folder), timed around Persister.Flush.
	Write Latency `json:"write"`
	// Fsync is os.WriteFile's work plus an fsync, of the same bytes.
	Fsync Latency `json:"plain_write_fsync"`
	// Ratio is Write.P50 / Fsync.P50.
	Ratio float64 `json:"ratio_p50"`
}

// benchID names device i in every run, so the state topics of one run are
// those of the first devices of a larger one.
func benchID(i int) string { return fmt.Sprintf("bench-%05d", i) }

// benchState is device i's state in written state files.
func benchState(i int, at time.Time) state.State {
	return state.State{
		ActiveScene:  "startup",
		PlayState:    state.Playing,
		Brightness:   i % 100,
		DisplayOn:    true,
		LoggingLevel: state.LevelWarning,
		Timestamp:    at,
	}
}

// persisted is a store of n bench devices with a running Persister that
// writes only on Flush.
type persisted struct {
	store *state.Store
	p     *state.Persister
	stop  context.CancelFunc
	wg    sync.WaitGroup
	err   error
}

// newPersisted returns n bench devices in the state benchState gives,
// written to path on Flush.
func newPersisted(path string, n int) *persisted { return newPersistedOf(path, n, benchState) }

// newPersistedOf returns n bench devices, device i in the state of(i, an
// hour ago), written to path on Flush.
func newPersistedOf(path string, n int, of func(i int, at time.Time) state.State) *persisted {
	s := state.NewStore()
	ps := &persisted{store: s, p: state.NewPersister(s, state.PersisterOptions{Path: path, Debounce: time.Hour, MaxDelay: time.Hour})}
	at := time.Now().Add(-time.Hour).UTC()
	for i := range n {
		s.Put(benchID(i), of(i, at))
	}
	ctx, stop := context.WithCancel(context.Background())
	ps.stop = stop
	ps.wg.Go(func() { ps.err = ps.p.Run(ctx) })
	return ps
}

// close stops the Persister (its final write has nothing to do).
func (ps *persisted) close() error {
	ps.stop()
	ps.wg.Wait()
	return ps.err
}

// writeStateFile writes a state file of n bench devices to path, as the
// daemon would.
func writeStateFile(ctx context.Context, path string, n int) error {
	return writeStateFileOf(ctx, path, n, benchState)
}

// writeStateFileOf writes a state file of n bench devices, device i in
// the state of(i, at), to path, as the daemon would.
func writeStateFileOf(ctx context.Context, path string, n int, of func(i int, at time.Time) state.State) error {
	ps := newPersistedOf(path, n, of)
	err := ps.p.Flush(ctx)
	if cerr := ps.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write state file of %d devices: %w", n, err)
	}
	return nil
}

// measurePersist times writes of the state file of n devices in dir: one
// device changes before each write, as after a command.
func measurePersist(ctx context.Context, dir string, n, writes int) (Persist, error) {
	res := Persist{Devices: n}
	path := filepath.Join(dir, fmt.Sprintf("state-%d.json", n))
	ps := newPersisted(path, n)
	err := func() error {
		var wt []time.Duration
		for i := range writes + 1 { // the first write creates the file: not counted
			b := (i + 1) % 100
			if _, _, err := ps.store.Apply(benchID(0), state.Patch{Brightness: &b}, time.Now()); err != nil {
				return err
			}
			t0 := time.Now()
			if err := ps.p.Flush(ctx); err != nil {
				return err
			}
			if i > 0 {
				wt = append(wt, time.Since(t0))
			}
		}
		res.Write = summarize(wt)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		res.Bytes = len(data)
		res.BytesPerDevice = float64(len(data)) / float64(n)
		plain := filepath.Join(dir, fmt.Sprintf("plain-%d.json", n))
		defer os.Remove(plain)
		var ft []time.Duration
		for range writes {
			t0 := time.Now()
			if err := writeFsync(plain, data); err != nil {
				return err
			}
			ft = append(ft, time.Since(t0))
		}
		res.Fsync = summarize(ft)
		res.Ratio = ratio(res.Write.P50ms, res.Fsync.P50ms)
		return nil
	}()
	if cerr := ps.close(); err == nil {
		err = cerr
	}
	os.Remove(path)
	if err != nil {
		return res, fmt.Errorf("persistence of %d devices: %w", n, err)
	}
	return res, nil
}

// writeFsync writes data to path, fsyncs and closes it: the floor of any
// durable write.
func writeFsync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
