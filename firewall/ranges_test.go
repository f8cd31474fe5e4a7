package firewall

import (
	"math/rand/v2"
	"testing"
)

// Every host port of a run lands on its own container port, and the usual
// runs take one element.
func TestWindows(t *testing.T) {
	check := func(h uint16, n int, c uint16) []window {
		t.Helper()
		ws := windows(h, n, c)
		next := int(h)
		for _, w := range ws {
			if int(w.hostLo) != next || w.hostHi < w.hostLo {
				t.Fatalf("windows(%d, %d, %d) = %v: not contiguous", h, n, c, ws)
			}
			for p := int(w.hostLo); p <= int(w.hostHi); p++ {
				if got, want := w.target(uint16(p)), int(c)+p-int(h); int(got) != want {
					t.Fatalf("windows(%d, %d, %d): host port %d goes to %d, want %d (%v)", h, n, c, p, got, want, ws)
				}
			}
			next = int(w.hostHi) + 1
		}
		if next != int(h)+n {
			t.Fatalf("windows(%d, %d, %d) = %v: covers up to %d", h, n, c, ws, next-1)
		}
		return ws
	}
	for _, tc := range []struct {
		h    uint16
		n    int
		c    uint16
		want int
	}{
		{8080, 1, 80, 1},
		{20000, 1000, 7000, 1},
		{7000, 1000, 7000, 1},
		{8000, 101, 80, 1},
		{20001, 1000, 80, 1},
		{1, 65535, 1, 1},
		{65535, 1, 1, 1},
		{1, 1, 65535, 1},
		{60000, 5000, 10, 1},
	} {
		if ws := check(tc.h, tc.n, tc.c); len(ws) != tc.want {
			t.Errorf("windows(%d, %d, %d) took %d elements, want %d: %v", tc.h, tc.n, tc.c, len(ws), tc.want, ws)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	most := 0
	for range 2000 {
		n := 1 + r.IntN(2000)
		h := uint16(1 + r.IntN(65536-n))
		c := uint16(1 + r.IntN(65536-n))
		most = max(most, len(check(h, n, c)))
	}
	t.Logf("at most %d elements for a random run", most)
}
