//go:build !linux

package main

import "os/exec"

// setDeathSignal does nothing outside Linux: the tool stops the daemon
// itself on every way out but a kill.
func setDeathSignal(*exec.Cmd) {}
