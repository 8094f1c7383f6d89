package localdeps

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// listener is a TCP socket in LISTEN state.
type listener struct {
	IP   net.IP
	Port int
}

func (l listener) String() string { return net.JoinHostPort(l.IP.String(), strconv.Itoa(l.Port)) }

// listeners are the TCP (v4 and v6) sockets in LISTEN state that process pid holds, read from
// /proc: the socket inodes of its open files matched against /proc/net/tcp and tcp6.
func listeners(t *testing.T, pid int) []listener {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []listener
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			host, port, _ := strings.Cut(fields[1], ":")
			raw, err := hex.DecodeString(host)
			if err != nil {
				t.Fatalf("%s: %q: %v", file, fields[1], err)
			}
			// The kernel prints each 32-bit word of the address in host (little-endian) order.
			for i := 0; i+4 <= len(raw); i += 4 {
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			p, _ := strconv.ParseInt(port, 16, 32)
			out = append(out, listener{IP: net.IP(raw), Port: int(p)})
		}
		f.Close()
	}
	return out
}

// nonLoopbackIP is an address of this machine other than loopback, nil when it has none.
func nonLoopbackIP(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP
		}
	}
	return nil
}

// TestWeaviateListensOnLoopback: the embedded Weaviate's REST, gossip and raft ports listen on
// loopback only. Weaviate 1.35 binds its gRPC port and its cluster data port on every interface
// and has no setting for their address, so those two are closed another way, checked through
// an address of this machine that is not loopback: gRPC refuses a call without the API key
// (and answers one with it), the data port refuses a request without its generated basic-auth
// credentials, and the REST port is not reachable there at all.
func TestWeaviateListensOnLoopback(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a real Weaviate")
	}
	bin := weaviateBinForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	key, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	w, err := StartWeaviate(ctx, WeaviateOptions{Bin: bin, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ls := listeners(t, w.Pid())
	seen := map[int]bool{}
	for _, l := range ls {
		seen[l.Port] = true
		if !l.IP.IsLoopback() && l.Port != w.grpcPort && l.Port != w.dataPort {
			t.Errorf("weaviate listens on %s, beyond loopback", l)
		}
	}
	if !seen[w.httpPort] || !seen[w.grpcPort] || len(ls) < 4 {
		t.Fatalf("listeners of weaviate %d: %v; want REST %d, gRPC %d and more", w.Pid(), ls, w.httpPort, w.grpcPort)
	}

	ip := nonLoopbackIP(t)
	if ip == nil {
		t.Skip("no address other than loopback to connect through")
	}
	at := func(port int) string { return net.JoinHostPort(ip.String(), strconv.Itoa(port)) }
	if c, err := net.DialTimeout("tcp", at(w.httpPort), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("REST port reachable at %s", at(w.httpPort))
	}

	resp, err := http.Get("http://" + at(w.dataPort) + "/nodes/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("data port at %s without credentials: %d, want 401", at(w.dataPort), resp.StatusCode)
	}

	conn, err := grpc.NewClient(at(w.grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rpc := pb.NewWeaviateClient(conn)
	_, err = rpc.Search(ctx, &pb.SearchRequest{Collection: "Anything", Limit: 1})
	// Weaviate answers code Unknown, "unauthorized: invalid api key".
	if err == nil || (status.Code(err) != codes.Unauthenticated && !strings.Contains(err.Error(), "unauthorized")) {
		t.Errorf("gRPC search at %s without the key: %v, want refused as unauthorized", at(w.grpcPort), err)
	}
	kctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
	_, err = rpc.Search(kctx, &pb.SearchRequest{Collection: "Anything", Limit: 1})
	if code := status.Code(err); code == codes.Unauthenticated || code == codes.Unavailable || (err != nil && strings.Contains(err.Error(), "unauthorized")) {
		t.Errorf("gRPC search with the key: %v", err)
	}
}
