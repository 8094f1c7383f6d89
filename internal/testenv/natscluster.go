package testenv

import (
	"context"
	"errors"
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
	// JetStream answers once the servers elected a meta leader; a stream with n replicas can be
	// placed once that leader sees every other server as a current, online peer (a loaded
	// machine answered "no suitable peers for placement, peer offline" before that).
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
			err = c.metaPeersCurrent(n)
		}
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: nats cluster has no JetStream meta leader: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metaPeersCurrent reports, from the JetStream meta leader's own view, whether all n servers are
// meta peers that are online and caught up.
func (c *NATSCluster) metaPeersCurrent(n int) error {
	for _, s := range c.Servers {
		if !s.JetStreamIsLeader() {
			continue
		}
		info, err := s.Jsz(&server.JSzOptions{LeaderOnly: true})
		if err != nil {
			return err
		}
		if info.Meta == nil {
			return errors.New("meta leader reports no meta cluster")
		}
		if len(info.Meta.Replicas) != n-1 {
			return fmt.Errorf("meta leader sees %d servers, want %d", len(info.Meta.Replicas)+1, n)
		}
		for _, p := range info.Meta.Replicas {
			if !p.Current || p.Offline {
				return fmt.Errorf("meta peer %s not current (offline %v)", p.Name, p.Offline)
			}
		}
		return nil
	}
	return errors.New("no server is the meta leader")
}
