package child

import "syscall"

// Attr puts a child in its own process group and has the kernel
// SIGKILL it if the thread that started it (and so this process) dies.
func Attr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
