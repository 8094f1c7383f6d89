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
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// FreePort returns a TCP port on 127.0.0.1 that was free at the time of the
// call. The port is released before returning, so another process may take it
// in between; callers that need several distinct ports at once should use
// FreePorts, which holds every listener until all ports are chosen. Ports come
// from below the kernel's ephemeral range (net.ipv4.ip_local_port_range) when
// it leaves room: a port the kernel hands out for :0 is also what it gives the
// next outgoing connection, which took one between the release and the
// caller's listen when many tests ran at once.
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
		port := 0 // the kernel's choice, after many taken candidates
		if attempts < 10*n+10 {
			port = candidate()
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			if port != 0 {
				continue // taken: another candidate
			}
			return nil, fmt.Errorf("localdeps: listen on a free loopback port: %w", err)
		}
		held = append(held, l)
		port = l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // UDP side taken; keep the TCP listener held and try another
		}
		heldUDP = append(heldUDP, u)
		ports = append(ports, port)
	}
	return ports, nil
}

// portFloor is the lowest port candidate picks from: below it are well-known
// and registered services' usual ports.
const portFloor = 20000

// ephemeralLow is the first port of the kernel's ephemeral range (32768 when
// it cannot be read).
var ephemeralLow = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
})

// candidate is a port to try: random between portFloor and the ephemeral range
// when there is room, else 0 (the kernel's choice).
func candidate() int {
	hi := ephemeralLow()
	if hi-portFloor < 1000 {
		return 0
	}
	return portFloor + rand.IntN(hi-portFloor)
}
