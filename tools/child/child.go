// Package child starts the helper programs of the local tooling (the AWS
// stand-ins, the Lambda Runtime Interface Emulator, bootstraps run directly)
// so that they die with the process that started them: each runs in its own
// process group, and on Linux the kernel SIGKILLs it when the thread that
// forked it exits.
//
// Linux sends that parent-death signal when the forking *thread* exits, not
// the process, so each child is started and waited for on a goroutine
// locked to its OS thread for the child's whole life.
package child

import (
	"fmt"
	"os/exec"
	"runtime"
	"time"
)

// Process is a started child.
type Process struct {
	// Started is when the child was started.
	Started time.Time
	// Done is closed once the child has been reaped.
	Done chan struct{}
	// Err is cmd.Wait's error; read it only after Done is closed.
	Err error
}

// Start starts cmd with Attr() (unless cmd.SysProcAttr is set already) and
// returns once it has started.
func Start(cmd *exec.Cmd) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = Attr()
	}
	p := &Process{Done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine, after the child.
		runtime.LockOSThread()
		p.Started = time.Now()
		err := cmd.Start()
		started <- err
		if err != nil {
			p.Err = err
			close(p.Done)
			return
		}
		p.Err = cmd.Wait()
		close(p.Done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return p, nil
}
