package intake

import (
	"testing"
	"time"
)

func TestIDTimeOrdersWithinMetasSecond(t *testing.T) {
	at := time.Unix(1795860000, 0).UTC() // Meta's whole-second timestamp
	for _, tt := range []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"received in that second: arrival time", at.Add(700 * time.Millisecond), at.Add(700 * time.Millisecond)},
		{"received later: Meta's time", at.Add(3 * time.Second), at},
		{"clock behind Meta's: Meta's time", at.Add(-time.Second), at},
	} {
		if got := idTime(at, tt.now); !got.Equal(tt.want) {
			t.Errorf("%s: idTime = %v, want %v", tt.name, got, tt.want)
		}
	}
}
