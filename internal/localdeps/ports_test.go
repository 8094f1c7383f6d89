package localdeps

import (
	"fmt"
	"net"
	"testing"
)

func TestFreePort(t *testing.T) {
	t.Parallel()
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if p <= 0 || p > 65535 {
		t.Fatalf("port %d out of range", p)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("port %d returned as free but cannot listen: %v", p, err)
	}
	_ = l.Close()
}

func TestFreePortsDistinct(t *testing.T) {
	t.Parallel()
	ports, err := FreePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("duplicate port %d in %v", p, ports)
		}
		seen[p] = true
	}
	if len(ports) != 8 {
		t.Fatalf("got %d ports, want 8", len(ports))
	}
	// Below the kernel's ephemeral range (where outgoing connections take theirs) when it
	// leaves room.
	if low := ephemeralLow(); low-portFloor >= 1000 {
		for _, p := range ports {
			if p < portFloor || p >= low {
				t.Errorf("port %d outside [%d, %d)", p, portFloor, low)
			}
		}
	}
}
