//go:build race

package extract

// raceEnabled: the race detector maps huge shadow memory, so the child
// cannot take an address-space limit.
const raceEnabled = true
