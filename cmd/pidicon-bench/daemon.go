package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// daemonModule is the daemon's package, built when --daemon is not given.
const daemonModule = "github.com/pidicon/pidicon-mqtt/cmd/pidicon-mqtt"

// releaseLDFlags are the Dockerfile's linker flags (its VERSION defaults
// to dev): no symbol table, no DWARF.
const releaseLDFlags = "-s -w -X main.version=dev"

// buildDaemon builds the daemon into dir and returns the binary's path:
// a plain go build, or with release the Dockerfile's build (CGO_ENABLED=0,
// -trimpath, releaseLDFlags): static, without symbols, as shipped.
func buildDaemon(ctx context.Context, dir string, release bool) (string, error) {
	bin := filepath.Join(dir, "pidicon-mqtt")
	args := []string{"build", "-o", bin}
	if release {
		args = append(args, "-trimpath", "-ldflags", releaseLDFlags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, daemonModule)...)
	if release {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the daemon (go %s; or pass --daemon PATH): %w\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return bin, nil
}

// buildName says how buildDaemon builds, for the report.
func buildName(release bool) string {
	if release {
		return `release: CGO_ENABLED=0 go build -trimpath -ldflags "` + releaseLDFlags + `"`
	}
	return "plain: go build"
}

// daemon is one run of the daemon as a subprocess.
type daemon struct {
	cmd    *exec.Cmd
	start  time.Time     // just before the process started
	exited chan struct{} // closed when the process has exited
	err    error         // the exit status, once exited is closed
	log    *logTail
}

// stopTimeout bounds a clean stop (the daemon flushes its state file and
// says goodbye) before the process is killed.
const stopTimeout = 15 * time.Second

// startDaemon runs bin with args. Its environment is the tool's without any
// PIDICON_ or GODEBUG variable, plus env and GODEBUG=gctrace=1 (the Go
// runtime then reports the live heap after each collection on stderr).
// When ctx ends the daemon gets SIGTERM, and SIGKILL after stopTimeout.
func startDaemon(ctx context.Context, bin string, args, env []string) (*daemon, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PIDICON_") && !strings.HasPrefix(kv, "GODEBUG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Env = append(cmd.Env, "GODEBUG=gctrace=1")
	d := &daemon{cmd: cmd, exited: make(chan struct{}), log: newLogTail()}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	setDeathSignal(cmd)
	d.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the daemon: %w", err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

// pid is the daemon's process id.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM and waits for the exit, killing the process after
// stopTimeout. It returns an error if the daemon did not exit cleanly.
func (d *daemon) stop() error {
	select {
	case <-d.exited:
		return d.exitError()
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-d.exited:
		return d.exitError()
	case <-timer.C:
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("the daemon did not stop within %s of SIGTERM and was killed%s", stopTimeout, d.log.excerpt())
	}
}

// exitError is the exit status as an error with the last log lines, or
// nil for a clean exit.
func (d *daemon) exitError() error {
	if d.err != nil {
		return fmt.Errorf("the daemon exited: %w%s", d.err, d.log.excerpt())
	}
	return nil
}

// checkAlive returns an error if the daemon has exited.
func (d *daemon) checkAlive() error {
	select {
	case <-d.exited:
		if err := d.exitError(); err != nil {
			return err
		}
		return errors.New("the daemon exited early" + d.log.excerpt())
	default:
		return nil
	}
}

// waitListening waits until addr accepts TCP connections, the daemon
// exits, ctx ends or timeout passes.
func (d *daemon) waitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.exited:
			return d.checkAlive()
		case <-deadline.C:
			return fmt.Errorf("the daemon's broker did not listen on %s within %s%s", addr, timeout, d.log.excerpt())
		case <-tick.C:
		}
	}
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
