package sim

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Fault makes a simulator fail the way real devices do. It applies to the
// device's API requests (POST /post for the Pixoo, /api/ for the AWTRIX),
// not to the pages for humans. A device that is off (connection refused)
// is Server.Down.
type Fault int

// The faults a simulator can inject.
const (
	// FaultNone answers normally.
	FaultNone Fault = iota
	// FaultHTTP500 answers HTTP 500 Internal Server Error.
	FaultHTTP500
	// FaultIllegalJSON answers HTTP 200 with the plain string body
	// "Request data illegal json".
	FaultIllegalJSON
	// FaultErrorCode answers {"error_code":1}.
	FaultErrorCode
	// FaultMalformed answers a truncated JSON object.
	FaultMalformed
	// FaultHang answers nothing: the request blocks until the client gives
	// up, the server goes down, or the simulator is closed.
	FaultHang
)

// String names the fault, as /state shows it.
func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultHTTP500:
		return "http500"
	case FaultIllegalJSON:
		return "illegal-json"
	case FaultErrorCode:
		return "error-code"
	case FaultMalformed:
		return "malformed"
	case FaultHang:
		return "hang"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// maxRequests is how many requests Requests keeps.
const maxRequests = 1000

// DefaultRebootTime is how long a simulator is away after it was asked to
// reboot, until SetRebootTime says otherwise.
const DefaultRebootTime = time.Second

// control is the part of a simulator that tests steer and watch, the same
// for every device: the fault and latency injected into API requests, Close
// to release the requests they hold, the log of the last API requests (R
// is the simulator's record of one), and Changed to wait for the next one.
// Pixoo and Awtrix embed it, so its exported methods are theirs; their API
// handlers call delay before applying a request, record once it is applied,
// and hang to answer FaultHang, and their Requests return log.
//
// It is safe for concurrent use. Its lock is taken inside the simulator's
// own, never around it.
type control[R any] struct {
	closeOnce sync.Once
	closed    chan struct{} // closed by Close: releases hanging requests

	mu         sync.Mutex // guards the fields below
	fault      Fault
	latency    time.Duration
	rebootTime time.Duration // how long a reboot keeps the device away
	bootUntil  time.Time     // API requests until then are dropped: rebooting
	reboots    int           // reboots asked for
	requests   []R           // the last maxRequests requests
	total      int           // API requests ever received
	changed    chan struct{} // closed and replaced after each request
}

func newControl[R any]() *control[R] {
	return &control[R]{
		closed:     make(chan struct{}),
		changed:    make(chan struct{}),
		rebootTime: DefaultRebootTime,
	}
}

// SetRebootTime sets how long the device is away after it was asked to
// reboot: its API requests are dropped unanswered meanwhile, as a device
// that is starting up does not answer (DefaultRebootTime until set).
func (c *control[R]) SetRebootTime(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rebootTime = d
}

// Reboots is how many times the device was asked to reboot.
func (c *control[R]) Reboots() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reboots
}

// startReboot makes the device away for the reboot time from now.
func (c *control[R]) startReboot() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reboots++
	c.bootUntil = time.Now().Add(c.rebootTime)
}

// rebooting reports whether the device is away, rebooting.
func (c *control[R]) rebooting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.bootUntil)
}

// Close releases the requests held by FaultHang or SetLatency, dropping
// their connections unanswered; later such requests are dropped at once.
// Server releases them by itself when it goes down; call Close when the
// simulator is served by something else, such as an httptest.Server, whose
// Close waits for running handlers.
func (c *control[R]) Close() { c.closeOnce.Do(func() { close(c.closed) }) }

// SetFault makes the following API requests fail as f says.
func (c *control[R]) SetFault(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault = f
}

// SetLatency delays every following API answer by d, like a slow device.
func (c *control[R]) SetLatency(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latency = d
}

// log returns the last API requests (at most maxRequests), oldest first,
// for the simulator's Requests.
func (c *control[R]) log() []R {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// Changed returns a channel that is closed once the next API request has
// been applied and recorded (its answer may still be on its way), so a
// test can wait for a condition without polling: take the channel, check
// the condition, then wait on the channel and start over.
func (c *control[R]) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// injected returns the fault and latency set.
func (c *control[R]) injected() (Fault, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault, c.latency
}

// received is the number of API requests ever recorded.
func (c *control[R]) received() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// delay holds an API request for the latency set. It returns false if the
// request must not be answered: its client gave up, or Close dropped its
// connection.
func (c *control[R]) delay(w http.ResponseWriter, r *http.Request) bool {
	_, latency := c.injected()
	if latency <= 0 {
		return true
	}
	t := time.NewTimer(latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-c.closed:
		dropConn(w)
		return false
	}
}

// hang answers nothing, for FaultHang: it returns when the client gives up
// or the server goes down, or drops the connection when Close is called.
func (c *control[R]) hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-c.closed:
		dropConn(w)
	}
}

// record keeps req among the last requests and announces it. The
// simulator calls it with its own lock held, so that a request is applied
// and recorded in one step.
func (c *control[R]) record(req R) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.requests) == maxRequests {
		c.requests = append(c.requests[:0], c.requests[1:]...)
	}
	c.requests = append(c.requests, req)
	c.total++
	close(c.changed)
	c.changed = make(chan struct{})
}

// dropConn closes the request's connection without an answer, as a device
// that stops responding does, where the server allows it (an in-process
// http.ResponseWriter gets an empty answer instead).
func dropConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}
