//go:build race

package phone

// raceDetector: the race detector slows the library and this package
// tenfold, so the differential tests sample their corpus (see stride).
const raceDetector = true
