package opscli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// DefaultOpsAddr is the ops listener's address when COACHWIRE_OPS_ADDR is unset.
const DefaultOpsAddr = "127.0.0.1:9090"

// ReadyURL is the readiness URL of the ops listener at addr (COACHWIRE_OPS_ADDR): a listener on
// every interface (0.0.0.0, ::, or no host) is asked on loopback, as a container's health check
// runs inside the container.
func ReadyURL(addr string) (string, error) {
	if addr == "" {
		addr = DefaultOpsAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("healthcheck: COACHWIRE_OPS_ADDR=%q: want host:port", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// Healthcheck asks url (ReadyURL) once and returns nil when it answers 200. Otherwise the error
// names the status and the start of the body (the failing dependencies).
func Healthcheck(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
