package state_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/state"
)

var benchSizes = []int{10, 1000, 10000}

// benchPersister returns a store of n devices and a running Persister
// that only writes on Flush. It stops when b ends.
func benchPersister(b *testing.B, n int) (*state.Store, *state.Persister, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "runtime-state.json")
	s := state.NewStore()
	for i := range n {
		st := demoState()
		st.Brightness = i % 101
		s.Put(fmt.Sprintf("device-%05d", i), st)
	}
	p := state.NewPersister(s, state.PersisterOptions{Path: path, Debounce: time.Hour, MaxDelay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	// Write once, so the file exists and its size is known.
	s.Put("device-00000", demoState())
	if err := p.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s, p, path
}

// BenchmarkPersist measures one full atomic write of n devices: encode,
// temporary file, write, fsync, close, rename, fsync of the folder.
func BenchmarkPersist(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, p, _ := benchPersister(b, n)
			b.SetBytes(int64(p.Stats().Bytes))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, _, err := s.Apply("device-00000", state.Patch{Brightness: ptr(i % 101)}, t0.Add(time.Duration(i))); err != nil {
					b.Fatal(err)
				}
				if err := p.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFsyncBaseline writes, fsyncs and closes a plain file of the same
// size as BenchmarkPersist's: the floor the atomic write is measured
// against.
func BenchmarkFsyncBaseline(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, _, path := benchPersister(b, n)
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			plain := filepath.Join(b.TempDir(), "plain.json")
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.OpenFile(plain, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadFile(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, p, path := benchPersister(b, n)
			b.SetBytes(int64(p.Stats().Bytes))
			b.ReportAllocs()
			for b.Loop() {
				doc, err := state.ReadFile(path)
				if err != nil {
					b.Fatal(err)
				}
				if len(doc.Devices) != n {
					b.Fatalf("%d devices, want %d", len(doc.Devices), n)
				}
			}
		})
	}
}
