package app

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

//go:embed demo_knowledge.md
var demoKnowledge string

const demoEmail = "demo@coachwire.local"

// seedDemo makes sure the dev-mode demo creator exists, with a persona, a sample document and
// the gateway's own origin allowed, going through the public API like any client would. It
// returns the demo widget key.
func seedDemo(ctx context.Context, a *App) (string, error) {
	pwFile := filepath.Join(a.cfg.DataDir, "demo-password")
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		pw = []byte(hex.EncodeToString(b))
		if err := os.MkdirAll(a.cfg.DataDir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(pwFile, pw, 0o600); err != nil {
			return "", err
		}
	}
	password := strings.TrimSpace(string(pw))
	var session struct {
		AccessToken string `json:"access_token"`
		Creator     struct {
			WidgetKey string `json:"widget_key"`
		} `json:"creator"`
	}
	created := false
	status, err := a.call(ctx, "POST", "/api/v1/auth/login", "", map[string]string{"email": demoEmail, "password": password}, &session)
	if err != nil {
		return "", err
	}
	if status == http.StatusUnauthorized {
		status, err = a.call(ctx, "POST", "/api/v1/auth/register", "", map[string]string{"email": demoEmail, "password": password, "name": "Demo Coach"}, &session)
		if err != nil {
			return "", err
		}
		if status != http.StatusCreated {
			return "", fmt.Errorf("demo register: status %d", status)
		}
		created = true
	} else if status != http.StatusOK {
		return "", fmt.Errorf("demo login: status %d", status)
	}
	if created {
		settings := map[string]any{"name": "Demo Coach", "allowed_origins": []string{a.cfg.PublicURL}, "identity_required": false,
			"persona": "You are Sam, a warm and practical habit coach. Keep answers short and concrete."}
		if st, err := a.call(ctx, "PUT", "/api/v1/widget/settings", session.AccessToken, settings, nil); err != nil || st != http.StatusOK {
			return "", fmt.Errorf("demo settings: status %d: %v", st, err)
		}
		doc := map[string]string{"title": "Building habits that stick", "format": "markdown", "content": demoKnowledge}
		if st, err := a.call(ctx, "POST", "/api/v1/documents", session.AccessToken, doc, nil); err != nil || st != http.StatusAccepted {
			return "", fmt.Errorf("demo document: status %d: %v", st, err)
		}
	}
	fmt.Fprintf(a.out, "  Demo login: %s / %s\n", demoEmail, password)
	return session.Creator.WidgetKey, nil
}

// call makes a JSON request to this process's own gateway.
func (a *App) call(ctx context.Context, method, path, token string, body, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}
