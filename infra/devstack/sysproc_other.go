//go:build unix && !linux

package devstack

import "syscall"

// sysProcAttr puts a child in its own process group. Outside Linux there is
// no parent-death signal: a killed parent can leave children behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
