package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// Gateway replicas behind one load balancer must accept each other's tokens: a creator signs in
// on one replica and the next request lands on another. Tokens name the constant auth.Issuer
// (never a replica's address), so what remains is the signing keys: every replica must read the
// same key file. A replica with a key file of its own would start fine and answer every token
// another replica issued with 401, so each gateway announces its keys in a NATS key-value bucket
// and a gateway that cannot verify a live replica's tokens refuses to start, naming the setting.

// gatewaysBucket holds one entry per running gateway process.
const gatewaysBucket = "coachwire_gateways"

// gatewayTTL is how long a gateway's entry outlives its last refresh (a killed gateway is forgotten
// after it); entries are refreshed every gatewayTTL/3 and deleted on a clean stop.
const gatewayTTL = 90 * time.Second

// gatewayEntry is what a gateway announces: public key ids only, never key material.
type gatewayEntry struct {
	SignKID   string    `json:"sign_kid"`
	KIDs      []string  `json:"kids"`
	Host      string    `json:"host"`
	PublicURL string    `json:"public_url"`
	KeyFile   string    `json:"key_file"`
	Started   time.Time `json:"started"`
}

// announceGateway records this gateway's keys and checks them against every other live gateway:
// a gateway whose tokens this one cannot verify is an error. A live gateway that cannot verify
// this one's new key (a key rotation rolling through the replicas) is only logged.
func (a *App) announceGateway(ctx context.Context, keyFile string) error {
	kv, err := a.Bus.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: gatewaysBucket, Description: "coachwire gateway replicas and their JWT key ids",
		TTL: gatewayTTL, History: 1, Storage: jetstream.FileStorage, Replicas: a.cfg.StreamReplicas,
	})
	if err != nil {
		return fmt.Errorf("gateway: replica registry (NATS key-value %s): %w", gatewaysBucket, err)
	}
	keys := a.Auth.PublicKeys()
	me := gatewayEntry{SignKID: a.Auth.SigningKeyID(), PublicURL: a.cfg.PublicURL, KeyFile: keyFile, Started: a.now().UTC()}
	for kid := range keys {
		me.KIDs = append(me.KIDs, kid)
	}
	slices.Sort(me.KIDs)
	me.Host, _ = os.Hostname()
	self := uuid.NewString()
	data, _ := json.Marshal(me)
	// Announce first, then look: of two gateways starting at once with different keys, at least
	// one sees the other.
	if _, err := kv.Put(ctx, self, data); err != nil {
		return fmt.Errorf("gateway: replica registry: %w", err)
	}
	forget := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = kv.Delete(dctx, self)
	}
	others, err := otherGateways(ctx, kv, self)
	if err != nil {
		forget()
		return err
	}
	var errs []error
	for _, o := range others {
		if _, ok := keys[o.SignKID]; !ok {
			errs = append(errs, fmt.Errorf("gateway on %s (public URL %s, key file %s, started %s) signs tokens with JWT key %q, which this gateway's key file %s does not hold",
				o.Host, o.PublicURL, o.KeyFile, o.Started.Format(time.RFC3339), o.SignKID, keyFile))
			continue
		}
		if !slices.Contains(o.KIDs, me.SignKID) {
			a.log.Warn("a gateway replica cannot verify this gateway's signing key yet: restart it to load the rotated key file",
				"replica_host", o.Host, "replica_public_url", o.PublicURL, "sign_kid", me.SignKID)
		}
	}
	if len(errs) > 0 {
		forget()
		return fmt.Errorf("%w: its tokens would get 401 here and this one's there. Every gateway replica must read the same JWT key file: "+
			"set COACHWIRE_JWT_KEY_FILE to one file on a shared volume, or copy the file to every replica (a gateway killed without stopping is forgotten after %s)",
			errors.Join(errs...), gatewayTTL)
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(gatewayTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(rctx, 10*time.Second)
				if _, err := kv.Put(pctx, self, data); err != nil && rctx.Err() == nil {
					a.log.Warn("gateway replica registry not refreshed", "err", err)
				}
				cancel()
			}
		}
	}()
	a.onStop(func() { stop(); <-done; forget() })
	return nil
}

// otherGateways reads every live entry but self's.
func otherGateways(ctx context.Context, kv jetstream.KeyValue, self string) ([]gatewayEntry, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("gateway: replica registry: %w", err)
	}
	var out []gatewayEntry
	for k := range lister.Keys() {
		if k == self {
			continue
		}
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // stopped meanwhile
		}
		if err != nil {
			_ = lister.Stop()
			return nil, fmt.Errorf("gateway: replica registry: %w", err)
		}
		var g gatewayEntry
		if json.Unmarshal(e.Value(), &g) == nil && g.SignKID != "" {
			out = append(out, g)
		}
	}
	return out, nil
}
