//go:build unix && !linux

package child

import "syscall"

// Attr puts a child in its own process group. Outside Linux there is
// no parent-death signal: a killed parent can leave children behind.
func Attr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
