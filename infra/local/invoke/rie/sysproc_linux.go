package rie

import "syscall"

// sysProcAttr puts the emulator in its own process group and has the
// kernel SIGKILL it if the thread that started it (and so this process)
// dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
