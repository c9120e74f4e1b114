package main_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// TestDaemon_KillNineLosesNothing kills the daemon with SIGKILL at random
// moments while set commands stream in, and restarts it, for many rounds.
// After every kill the state file is a complete valid file (old or new), and
// the restarted daemon publishes, for every device, a state at least as new
// as both the file's and what the broker held at the kill.
//
// PIDICON_CRASH_ROUNDS and PIDICON_CRASH_SEED change the number of rounds
// (default 50) and the seed (default 1); a failure prints the seed and
// round to reproduce.
func TestDaemon_KillNineLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: many daemon restarts")
	}
	rounds := envInt(t, "PIDICON_CRASH_ROUNDS", 50)
	seed := uint64(envInt(t, "PIDICON_CRASH_SEED", 1))
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d, %d rounds (PIDICON_CRASH_SEED, PIDICON_CRASH_ROUNDS)", seed, rounds)

	mosq := mqtttest.StartMosquitto(t, mqtttest.Options{Extra: []string{"set_tcp_nodelay true"}})
	url := mosq.URL()
	dir := t.TempDir()
	statePath := filepath.Join(dir, "runtime-state.json")
	ids := []string{"a", "b", "c"}
	var devs []string
	for _, id := range ids {
		devs = append(devs, fmt.Sprintf("{id: %s, type: sim}", id))
	}
	// A short debounce so that kills land before, during and after writes.
	config := writeConfig(t, dir, fmt.Sprintf(`
mqtt: {url: %q, client_id: crash-test}
state: {path: %q, debounce: 20ms, max_delay: 100ms, restore_wait: 1s}
log: {level: warning}
devices: [%s]
`, url, statePath, strings.Join(devs, ", ")))

	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/+/state")
	pub := mqtttest.Connect(t, url)
	deadline := time.Now().Add(3 * time.Minute)
	for round := 0; round < rounds; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("round %d: out of time (3 minutes)", round)
		}
		mark := c.Mark()
		d := startProc(t, config)
		for _, id := range ids {
			if _, ok := c.WaitSince(mark, 15*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/"+id+"/state" }); !ok {
				t.Fatalf("seed %d round %d: %s never published its state after the start:\n%s", seed, round, id, d.out.String())
			}
		}

		// Stream set commands from another client and kill at a random
		// moment: after a random number of acknowledged commands.
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var sent atomic.Int64
		killAt := int64(rng.IntN(60))
		streamSeed := rng.Uint64()
		wg.Go(func() { streamSets(ctx, pub, ids, streamSeed, &sent) })
		mqtttest.WaitUntil(t, 10*time.Second, "commands flow", func() bool { return sent.Load() >= killAt })
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		stop()
		wg.Wait()

		file, err := state.ReadFile(statePath)
		if err != nil && !(round == 0 && errors.Is(err, fs.ErrNotExist)) {
			raw, _ := os.ReadFile(statePath)
			t.Fatalf("seed %d round %d: state file after SIGKILL: %v\n%s", seed, round, err, raw)
		}
		held := mqtttest.Retained(t, url, "pidicon/+/state")

		// Restart and compare.
		mark = c.Mark()
		d = startProc(t, config)
		for _, id := range ids {
			m, ok := c.WaitSince(mark, 15*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/"+id+"/state" })
			if !ok {
				t.Fatalf("seed %d round %d: %s not republished after the restart:\n%s", seed, round, id, d.out.String())
			}
			got, err := state.ParseStateJSON(m.Payload)
			if err != nil {
				t.Fatalf("seed %d round %d: %s: %v", seed, round, id, err)
			}
			if e, ok := file.Entry(id); ok && got.Timestamp.Before(e.Timestamp) {
				t.Errorf("seed %d round %d: %s restarted at %v, older than the file's %v", seed, round, id, got.Timestamp, e.Timestamp)
			}
			if hm, ok := held["pidicon/"+id+"/state"]; ok {
				hs, err := state.ParseStateJSON(hm.Payload)
				if err == nil && got.Timestamp.Before(hs.Timestamp) {
					t.Errorf("seed %d round %d: %s restarted at %v, older than the broker's %v", seed, round, id, got.Timestamp, hs.Timestamp)
				}
				if err == nil && !got.Timestamp.After(hs.Timestamp) && got.Brightness != hs.Brightness {
					t.Errorf("seed %d round %d: %s lost the broker's brightness %d (got %d)", seed, round, id, hs.Brightness, got.Brightness)
				}
			}
		}
		d.stop(syscall.SIGTERM, 5*time.Second)
		if t.Failed() {
			return
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temporary file %s left after a clean stop", e.Name())
			}
		}
	}
}

// streamSets publishes brightness sets to random devices until ctx is
// done, counting the acknowledged ones.
func streamSets(ctx context.Context, c *mqtttest.Client, ids []string, seed uint64, sent *atomic.Int64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for ctx.Err() == nil {
		id := ids[rng.IntN(len(ids))]
		if c.TryPublish("pidicon/"+id+"/brightness/set", strconv.Itoa(rng.IntN(101))) != nil {
			return
		}
		sent.Add(1)
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}
