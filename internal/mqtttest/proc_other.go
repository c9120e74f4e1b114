//go:build !linux

package mqtttest

import "syscall"

// procAttr runs a broker process in a process group of its own (only Linux
// can also have it stopped when the test binary dies).
func procAttr(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
