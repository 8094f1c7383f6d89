// Package localdeps starts the project's local dependencies (PostgreSQL,
// Weaviate) as child processes for the embedded default and for tests, with
// the helpers they share such as free loopback ports.
//
// It must never start anything listening beyond loopback on purpose, never
// download binaries at run time (it finds binaries built by `make` targets and
// says which command builds them), and never leave a child running after the
// parent dies: children get their own process group and a parent-death signal.
package localdeps

import (
	"fmt"
	"net"
)

// FreePort returns a TCP port on 127.0.0.1 that was free at the time of the
// call. The port is released before returning, so another process may take it
// in between; callers that need several distinct ports at once should use
// FreePorts, which holds every listener until all ports are chosen.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts returns n distinct loopback TCP ports that were free at the time
// of the call. Each port is also checked to be free for UDP on loopback, since
// some servers (memberlist gossip) bind both protocols on the same number.
func FreePorts(n int) ([]int, error) {
	var held []net.Listener
	var heldUDP []net.PacketConn
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
		for _, c := range heldUDP {
			_ = c.Close()
		}
	}()
	ports := make([]int, 0, n)
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 20*n+20 {
			return nil, fmt.Errorf("localdeps: could not find %d free loopback ports", n)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("localdeps: listen on a free loopback port: %w", err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // UDP side taken; keep the TCP listener held and try another
		}
		heldUDP = append(heldUDP, u)
		ports = append(ports, port)
	}
	return ports, nil
}
