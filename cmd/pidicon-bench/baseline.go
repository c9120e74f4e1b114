package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// echo is the broker baseline: client a publishes to <prefix>/ping/<slot>,
// client b republishes each message to <prefix>/pong/<slot>, and a's
// operation is answered when the pong arrives. It crosses the broker twice,
// like a set command and the state it causes.
type echo struct {
	a, b   *client
	prefix string
	dones  chan done
	relay  chan mqtt.Message // b's handler hands messages to the relay goroutine
	seq    uint64            // only drive's goroutine starts operations
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// queueSize bounds the messages waiting between a paho handler and the
// tool's goroutines; it is far above any window.
const queueSize = 1 << 14

// newEcho connects the two clients of the baseline to url.
func newEcho(ctx context.Context, url string, timeout time.Duration) (*echo, error) {
	e := &echo{
		prefix: "pidicon-bench/" + randomHex(4),
		dones:  make(chan done, queueSize),
		relay:  make(chan mqtt.Message, queueSize),
	}
	var err error
	e.b, err = dial(ctx, url, "echo", timeout, func(m mqtt.Message) {
		select {
		case e.relay <- m:
		default: // lost: shows up as a missing answer
		}
	})
	if err != nil {
		return nil, err
	}
	e.a, err = dial(ctx, url, "ping", timeout, e.onPong)
	if err != nil {
		e.b.close()
		return nil, err
	}
	rctx, stop := context.WithCancel(ctx)
	e.stop = stop
	e.wg.Go(func() { e.runRelay(rctx) })
	err = e.b.subscribe(ctx, map[string]byte{e.prefix + "/ping/+": 1})
	if err == nil {
		err = e.a.subscribe(ctx, map[string]byte{e.prefix + "/pong/+": 1})
	}
	if err != nil {
		e.close()
		return nil, fmt.Errorf("echo: %w", err)
	}
	return e, nil
}

// runRelay republishes each ping as a pong until ctx is done.
func (e *echo) runRelay(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-e.relay:
			slot := m.Topic()[strings.LastIndexByte(m.Topic(), '/')+1:]
			e.b.send(e.prefix+"/pong/"+slot, m.Payload(), false)
		}
	}
}

// onPong is a's handler: the operation of the pong's slot is answered.
func (e *echo) onPong(m mqtt.Message) {
	at := time.Now()
	topic := m.Topic()
	slot, err1 := strconv.Atoi(topic[strings.LastIndexByte(topic, '/')+1:])
	seq, err2 := strconv.ParseUint(string(m.Payload()), 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	select {
	case e.dones <- done{slot: slot, seq: seq, at: at}:
	default:
	}
}

// start sends the ping of slot.
func (e *echo) start(slot int) (uint64, error) {
	e.seq++
	e.a.send(e.prefix+"/ping/"+strconv.Itoa(slot), strconv.AppendUint(nil, e.seq, 10), false)
	return e.seq, nil
}

// run drives the echo with spec.
func (e *echo) run(ctx context.Context, spec loadSpec) (loadResult, error) {
	res, err := drive(ctx, spec, e.start, e.dones)
	if err != nil {
		return res, fmt.Errorf("broker echo: %w", err)
	}
	return res, nil
}

// close stops the relay and disconnects both clients.
func (e *echo) close() {
	e.stop()
	e.wg.Wait()
	e.a.close()
	e.b.close()
}
