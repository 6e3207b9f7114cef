//go:build !race

package phone

// raceDetector: the race detector is off; the differential tests run their
// whole corpus.
const raceDetector = false
