// Command pidicon-bench is the load tool of issues 8 and 16: it runs
// pidicon-mqtt as a subprocess with many mock devices, drives it from
// separate MQTT clients and prints how fast it is next to the broker's own
// figures measured in the same run, so that every number can be read as a
// ratio.
//
// Usage, from the repository root:
//
//	go run ./cmd/pidicon-bench [flags]
//
// It measures the broker's round trip and relay rate (an echo client), set
// command → retained state latency, sustained sets for a ramp of windows,
// start-up time for several numbers of devices with what a late subscriber
// gets of the retained state, the daemon's memory (also with the default
// configuration, optionally of the release build) and the state file's
// write time; with --frames, the frames that many simulated Pixoo 64
// displays on loopback HTTP receive. It prints each target of issues 8 and
// 16 as PASS or MISS. docs/PERFORMANCE.md has
// the figures of a reference machine and the commands that made them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "pidicon-bench:", err)
		os.Exit(1)
	}
}

// errUsage is a command-line mistake; the message was already printed.
var errUsage = errors.New("usage")

// options are the command-line flags.
type options struct {
	devices        int
	samples        int
	window         int
	windows        []int
	duration       time.Duration
	startup        []int
	persist        []int
	writes         int
	main           bool
	frames         int
	framesDuration time.Duration
	framesSim      bool
	broker         string
	daemon         string
	release        bool
	ha             bool
	json           bool
	save           string
	timeout        time.Duration
	startupTimeout time.Duration
	heapWait       time.Duration
	dir            string
}

// parseFlags reads and checks the command line; mistakes are printed to
// stderr and give errUsage.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{windows: []int{1, 8, 32}, startup: []int{1, 100, 1000, 10000}, persist: []int{1, 100, 1000, 10000}, main: true}
	fs := flag.NewFlagSet("pidicon-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.devices, "devices", 100, "mock devices of the main run (latency, load, memory)")
	fs.IntVar(&o.samples, "samples", 500, "sequential samples of the round trip and of set → state")
	fs.IntVar(&o.window, "window", 32, "outstanding messages of the headline sustained load")
	fs.Var((*intList)(&o.windows), "windows", "windows of the sustained-load ramp (comma-separated; --window is added)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "duration of each sustained-load step (and of the default-config settle)")
	fs.Var((*intList)(&o.startup), "startup", "device counts of the start-up runs (comma-separated; empty: none)")
	fs.Var((*intList)(&o.persist), "persist", "device counts of the state-file write timing (comma-separated; empty: none)")
	fs.IntVar(&o.writes, "writes", 20, "state-file writes timed per device count")
	fs.BoolVar(&o.main, "main", true, "run the main run: broker baseline, set → state, sustained sets and their memory (--main=false: skip it)")
	fs.IntVar(&o.frames, "frames", 0, "simulated Pixoo 64 displays of the frames run, each on its own loopback port, all on the wave scene (0: no frames run)")
	fs.DurationVar(&o.framesDuration, "frames-duration", 20*time.Second, "measuring window of the frames run, after its warm-up")
	fs.BoolVar(&o.framesSim, "frames-sim", false, "serve the frames run's displays with device/sim's Pixoo (decodes every frame) instead of the tool's lean counter")
	fs.StringVar(&o.broker, "broker", "", "external broker, tcp://host:port (default: the daemon's embedded broker)")
	fs.StringVar(&o.daemon, "daemon", "", "daemon binary to run (default: go build ./cmd/pidicon-mqtt)")
	fs.BoolVar(&o.release, "release", false, "build the daemon as the Dockerfile does (CGO_ENABLED=0, -trimpath, -ldflags \"-s -w\") instead of a plain go build")
	fs.BoolVar(&o.ha, "ha", false, "turn Home Assistant discovery on in the bench runs")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.StringVar(&o.save, "save", "", "also write the report as JSON to this file")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long any single answer may take before it counts as lost")
	fs.DurationVar(&o.startupTimeout, "startup-timeout", 60*time.Second, "how long a start-up run may take")
	fs.DurationVar(&o.heapWait, "heap-wait", 5*time.Second,
		"how long to watch the daemon's garbage collections after each memory reading, for its live heap (an idle daemon collects at least every 2 minutes)")
	fs.StringVar(&o.dir, "dir", "", "folder for the temporary files (default: the system's)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	var bad []string
	if fs.NArg() > 0 {
		bad = append(bad, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if o.devices < 1 || o.samples < 1 || o.window < 1 || o.writes < 1 {
		bad = append(bad, "--devices, --samples, --window and --writes must be at least 1")
	}
	for _, n := range append(append(append([]int(nil), o.windows...), o.startup...), o.persist...) {
		if n < 1 || n > 99999 {
			bad = append(bad, "--windows, --startup and --persist take numbers from 1 to 99999")
			break
		}
	}
	if o.devices > 99999 {
		bad = append(bad, "--devices takes at most 99999")
	}
	if o.frames < 0 || o.frames > maxFrameDisplays {
		bad = append(bad, fmt.Sprintf("--frames takes 0 to %d displays (each takes a listening port and a connection)", maxFrameDisplays))
	}
	if o.duration <= 0 || o.timeout <= 0 || o.startupTimeout <= 0 || o.heapWait <= 0 || o.framesDuration <= 0 {
		bad = append(bad, "--duration, --timeout, --startup-timeout, --heap-wait and --frames-duration must be positive")
	}
	if o.release && o.daemon != "" {
		bad = append(bad, "--release builds the daemon; it cannot be combined with --daemon")
	}
	if o.broker != "" && !strings.HasPrefix(o.broker, "tcp://") {
		bad = append(bad, "--broker must be tcp://host:port")
	}
	if len(bad) > 0 {
		fmt.Fprintln(stderr, "pidicon-bench: "+strings.Join(bad, "; "))
		return o, errUsage
	}
	o.startup = startupSizes(o.startup)
	o.persist = startupSizes(o.persist)
	return o, nil
}

// intList is a comma-separated list of integers flag.
type intList []int

func (l *intList) String() string {
	var s []string
	for _, n := range *l {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	*l = nil
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("%q is not a number", f)
		}
		*l = append(*l, n)
	}
	return nil
}

// run parses args, runs every measurement and prints the report to stdout;
// progress goes to stderr. A signal stops it: the daemon is stopped and
// the temporary files are removed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()

	tmp, err := os.MkdirTemp(opts.dir, "pidicon-bench-")
	if err != nil {
		return fmt.Errorf("temporary folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	b := &bench{opts: opts, bin: opts.daemon, tmp: tmp, progress: stderr}
	if b.external() {
		b.dirty = max(opts.devices, maxOf(opts.startup), opts.frames)
	}
	if b.bin == "" {
		b.logf("building the daemon (%s)", buildName(opts.release))
		if b.bin, err = buildDaemon(ctx, tmp, opts.release); err != nil {
			return err
		}
	}
	rep, err := b.measure(ctx)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the report: %w", err)
	}
	js = append(js, '\n')
	if opts.save != "" {
		if err := os.WriteFile(opts.save, js, 0o644); err != nil {
			return fmt.Errorf("save the report: %w", err)
		}
	}
	if opts.json {
		_, err := stdout.Write(js)
		return err
	}
	return printTable(stdout, rep)
}

// embeddedBroker is Setup.Broker without --broker.
const embeddedBroker = "embedded (mochi, the daemon's)"

// measure runs every section and evaluates the targets.
func (b *bench) measure(ctx context.Context) (*Report, error) {
	broker := embeddedBroker
	if b.external() {
		broker = b.opts.broker
	}
	rep := &Report{
		Machine: machineInfo(b.tmp),
		Setup: Setup{
			Devices: b.opts.devices, Samples: b.opts.samples, Window: b.opts.window,
			Duration: b.opts.duration.String(), Broker: broker, HA: b.opts.ha, Daemon: b.opts.daemon,
			Build: "given (--daemon)", Main: b.opts.main,
		},
	}
	if rep.Setup.Daemon == "" {
		rep.Setup.Daemon = "go build " + daemonModule
		rep.Setup.Build = buildName(b.opts.release)
	}
	if fi, err := os.Stat(b.bin); err == nil {
		rep.Setup.DaemonBytes = fi.Size()
	}
	rep.Machine.Load1Start = loadAverage()
	if b.opts.main {
		if err := b.runMain(ctx, rep); err != nil {
			return nil, fmt.Errorf("main run: %w", err)
		}
	}
	for _, n := range b.opts.startup {
		b.logf("start-up: %d devices", n)
		s, err := b.runStartup(ctx, n)
		if err != nil {
			return nil, err
		}
		rep.Startup = append(rep.Startup, s)
	}
	rep.PerDevice = perDevice(rep.Startup)
	if n := b.opts.frames; n > 0 {
		b.logf("frames: %d simulated Pixoo 64 displays, %s", n, b.opts.framesDuration)
		f, err := b.runFrames(ctx, n)
		if err != nil {
			return nil, err
		}
		rep.Frames = &f
	}
	var err error
	if rep.Default, err = b.runDefault(ctx); err != nil {
		return nil, fmt.Errorf("default configuration: %w", err)
	}
	for _, n := range b.opts.persist {
		b.logf("state file: %d devices, %d writes", n, b.opts.writes)
		p, err := measurePersist(ctx, b.tmp, n, b.opts.writes)
		if err != nil {
			return nil, err
		}
		rep.Persist = append(rep.Persist, p)
	}
	rep.Machine.Load1End = loadAverage()
	rep.Targets = evaluate(rep)
	return rep, nil
}

// maxOf is the largest of ns, or 0.
func maxOf(ns []int) int {
	m := 0
	for _, n := range ns {
		m = max(m, n)
	}
	return m
}
