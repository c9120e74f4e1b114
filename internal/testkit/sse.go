package testkit

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// FollowStream reads the server-sent events at url (the web page's
// /api/stream) in the background and calls f with the data of each event,
// in order, from its goroutine, until the returned func is called or the
// test ends. header, if not nil, is sent with the request (a login).
func FollowStream(t testing.TB, url string, header http.Header, f func(data []byte)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		cancel()
		t.Fatalf("open %s: %s, Content-Type %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer resp.Body.Close()
		ReadEvents(resp.Body, f)
	})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

// ReadEvents reads server-sent events from r until it ends, and calls f
// with the data of each.
func ReadEvents(r io.Reader, f func(data []byte)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				f(data)
				data = nil
			}
		case strings.HasPrefix(line, "data:"):
			d := strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, d...)
		}
	}
	return sc.Err()
}

// Stream records the events of a stream of server-sent events.
type Stream struct {
	stop func()

	mu      sync.Mutex
	events  [][]byte
	changed chan struct{} // closed and replaced on every event
}

// OpenStream follows the server-sent events at url and records them,
// until Close or the end of the test.
func OpenStream(t testing.TB, url string, header http.Header) *Stream {
	t.Helper()
	s := &Stream{changed: make(chan struct{})}
	s.stop = FollowStream(t, url, header, func(data []byte) {
		s.mu.Lock()
		s.events = append(s.events, data)
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	})
	return s
}

// Close stops reading the stream.
func (s *Stream) Close() { s.stop() }

// Mark returns a position for WaitSince: the number of events so far.
func (s *Stream) Mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// WaitSince waits up to timeout for an event after mark that matches, and
// returns its data and its position.
func (s *Stream) WaitSince(mark int, timeout time.Duration, match func(data []byte) bool) ([]byte, int, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	i := mark
	for {
		s.mu.Lock()
		events, changed := s.events, s.changed
		s.mu.Unlock()
		for ; i < len(events); i++ {
			if match(events[i]) {
				return events[i], i, true
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil, 0, false
		}
	}
}
