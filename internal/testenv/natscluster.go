package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCluster is a cluster of embedded NATS servers with JetStream, for this test alone: routes
// on loopback, a store directory per server. Stop a server with Stop; the others keep the
// cluster (and R3 streams) going.
type NATSCluster struct {
	Servers []*server.Server
}

// URL is every server's client URL, comma separated: the form COACHWIRE_NATS_URL and
// nats.Connect take, so a client reconnects to another server when its own stops.
func (c *NATSCluster) URL() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// Stop shuts server i down (as a crash would, without a goodbye) and waits until it is gone.
func (c *NATSCluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Index is the position of the server named name (a stream's leader, say), or -1.
func (c *NATSCluster) Index(name string) int {
	for i, s := range c.Servers {
		if s.Name() == name {
			return i
		}
	}
	return -1
}

// StartNATSCluster starts n servers clustered over loopback routes and waits until JetStream
// has a meta leader; they are shut down when the test ends.
func StartNATSCluster(tb testing.TB, n int) *NATSCluster {
	tb.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("testenv: nats cluster port: %v", err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &NATSCluster{}
	for i := range n {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("cw-n%d", i+1),
			Host:       "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: tb.TempDir(), JetStreamMaxMemory: 64 << 20,
			NoSigs: true, MaxPayload: 4 << 20,
			Cluster: server.ClusterOpts{Name: "coachwire-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		})
		if err != nil {
			tb.Fatalf("testenv: nats cluster server %d: %v", i+1, err)
		}
		go s.Start()
		c.Servers = append(c.Servers, s)
		tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	}
	for i, s := range c.Servers {
		if !s.ReadyForConnections(15 * time.Second) {
			tb.Fatalf("testenv: nats cluster server %d not ready", i+1)
		}
	}
	// JetStream answers once the servers elected a meta leader.
	nc, err := nats.Connect(c.URL())
	if err != nil {
		tb.Fatalf("testenv: nats cluster: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: nats cluster has no JetStream meta leader: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
