package bus

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configures the in-process NATS server of the embedded default and of tests.
type EmbeddedOptions struct {
	// StoreDir holds JetStream's file storage; data survives restarts.
	StoreDir string
	// Port to listen on (127.0.0.1); -1 picks a random one.
	Port int
}

// StartEmbedded runs a NATS server with JetStream in this process, listening on loopback so
// other coachwire processes of a local deployment (and tests) can connect.
func StartEmbedded(opt EmbeddedOptions) (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{
		ServerName:         "coachwire-embedded",
		Host:               "127.0.0.1",
		Port:               opt.Port,
		JetStream:          true,
		StoreDir:           opt.StoreDir,
		JetStreamMaxMemory: 256 << 20,
		NoSigs:             true,
		MaxPayload:         4 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: embedded server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats: embedded server not ready after 15s")
	}
	return ns, nil
}
