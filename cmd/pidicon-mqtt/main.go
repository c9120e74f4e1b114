// Command pidicon-mqtt is a daemon that turns pixel displays (Divoom Pixoo
// 64, simulated displays) into MQTT devices: each display's state is
// published retained, set topics drive the hardware, and a local JSON file
// restores the state after a restart.
//
// Usage:
//
//	pidicon-mqtt [--config FILE]               run the daemon
//	pidicon-mqtt check-config [--config FILE]  check and print the configuration
//	pidicon-mqtt healthcheck [--config FILE]   exit 0 if the running daemon is ready (its /healthz)
//	pidicon-mqtt hash-password                 print a bcrypt hash of the password read from stdin
//	pidicon-mqtt sim [--listen ADDR] [--type pixoo64|awtrix] [--also-listen ADDR] [--api both|post|divoom_api]
//	                                           serve a simulated display
//	pidicon-mqtt render --scene NAME [--size 64x64] [--params JSON] [--notify TEXT|JSON] [-o FILE]
//	pidicon-mqtt render --file FILE [--input NAME=VALUE]... [--size 64x64] [--grid] [-o FILE]
//	                                           draw a scene (or a scene file) to a PNG, scaled up
//	pidicon-mqtt check-scene FILE              check a scene file as the daemon would
//	pidicon-mqtt version                       print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version string

func main() {
	os.Exit(exitCode(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)))
}

// errUsage is a command-line mistake; the message was already printed.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(os.Stderr, "pidicon-mqtt:", err)
	return 1
}

// run parses the command line and runs the chosen command.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("pidicon-mqtt "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configPath *string
	var so simOptions
	var ro renderOptions
	switch cmd {
	case "run", "check-config", "healthcheck":
		configPath = fs.String("config", "", "configuration file (YAML); without one, the defaults and PIDICON_* variables apply")
	case "sim":
		fs.StringVar(&so.listen, "listen", "127.0.0.1:8064", "address to serve the simulated display on")
		fs.StringVar(&so.typ, "type", "pixoo64", "the display to simulate: pixoo64 or awtrix")
		fs.StringVar(&so.alsoListen, "also-listen", "", "a second address serving the same display (a Pixoo 64 with newer firmware answers on port 9000)")
		fs.StringVar(&so.api, "api", "both", "the Pixoo endpoints that answer: both, post (/post only) or divoom_api (/divoom_api only)")
	case "render":
		fs.StringVar(&ro.scene, "scene", "", "the built-in scene to draw (or --file)")
		fs.StringVar(&ro.file, "file", "", "a scene file to draw (instead of --scene)")
		fs.Var(&ro.inputs, "input", "an input value of the scene file, name=value (repeat it: several inputs, or a sparkline's values in order)")
		fs.StringVar(&ro.size, "size", "64x64", "the display size, WIDTHxHEIGHT (64x64: Pixoo 64, 32x8: AWTRIX)")
		fs.StringVar(&ro.params, "params", "{}", "the scene's parameters, a JSON object as on sceneParams/set")
		fs.StringVar(&ro.notify, "notify", "", "a notification drawn over the scene, as on notify (plain text or JSON)")
		fs.StringVar(&ro.images, "images", "", "a folder of images the scene and the notification may name")
		fs.DurationVar(&ro.at, "at", 0, "time since the scene started: where scrolling text and animations are")
		fs.StringVar(&ro.now, "now", "", "the wall clock, RFC 3339 (default: now)")
		fs.IntVar(&ro.scale, "scale", 8, "PNG pixels per display pixel")
		fs.BoolVar(&ro.grid, "grid", false, "draw dark lines between the display's pixels")
		fs.StringVar(&ro.out, "o", "-", "the PNG file to write (- for standard output)")
		fs.StringVar(&ro.devName, "name", "demo", "the device name the startup scene shows")
	case "version", "hash-password", "check-scene":
	default:
		fmt.Fprintf(stderr, "unknown command %q (commands: run, check-config, healthcheck, hash-password, sim, render, check-scene, version)\n", cmd)
		return errUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if cmd == "check-scene" {
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: pidicon-mqtt check-scene FILE")
			return errUsage
		}
		return checkScene(fs.Arg(0), stdout)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	switch cmd {
	case "check-config":
		return checkConfig(*configPath, stdout, getenv)
	case "healthcheck":
		return healthcheck(ctx, *configPath, stdout, getenv)
	case "hash-password":
		return hashPassword(stdin, stdout)
	case "version":
		fmt.Fprintln(stdout, buildVersion())
		return nil
	case "render":
		if (ro.scene == "") == (ro.file == "") {
			fmt.Fprintln(stderr, "render needs --scene or --file")
			return errUsage
		}
		ro.warnings = stderr
		return renderScene(ro, stdout)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	if cmd == "sim" {
		return runSimulator(ctx, so, stdout)
	}
	return runDaemon(ctx, *configPath, stderr, getenv)
}

// buildVersion is the version set at build time, or the module's.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
