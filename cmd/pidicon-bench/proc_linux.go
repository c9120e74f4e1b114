package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill the daemon if the tool dies without
// stopping it (SIGKILL, a crash).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
