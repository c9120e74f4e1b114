package mqtttest

import "syscall"

// procAttr runs a broker process in a process group of its own, and has
// the kernel send it onDeath if the test binary dies without stopping it
// (a test timeout's panic, a kill): a RabbitMQ node would run on for ever.
func procAttr(onDeath syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: onDeath}
}
