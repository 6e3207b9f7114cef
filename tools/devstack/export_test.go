package devstack

// PIDs returns the process ids of the stack's children, for tests.
func PIDs(s *Stack) []int {
	pids := make([]int, 0, len(s.procs))
	for _, p := range s.procs {
		pids = append(pids, p.pid())
	}
	return pids
}

// TempDir returns the temporary directory of an ephemeral stack, for tests.
func TempDir(s *Stack) string { return s.tempDir }
