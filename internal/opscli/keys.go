package opscli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coachwire/coachwire/internal/auth"
)

// RotateKeys rotates the JWT key file at path (auth.RotateKeys): a new signing key; the previous
// one is kept for verification, retired now; keys retired longer than lifetime (the longest
// token lifetime) ago are dropped, since every token they signed has expired. It writes what it
// did and what the operator does next.
func RotateKeys(path string, lifetime time.Duration, now time.Time, w io.Writer) error {
	r, err := auth.RotateKeys(path, now, lifetime)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "new signing key: %s (%s)\n", r.KID, path)
	fmt.Fprintf(w, "kept for verification: %s (each until the first rotation more than %s after it retired: the longest token lifetime)\n", orNone(r.Kept), lifetime)
	fmt.Fprintf(w, "dropped (every token they signed has expired): %s\n", orNone(r.Dropped))
	fmt.Fprintln(w, "next: restart (or roll) every gateway replica; each signs with the new key once restarted and verifies with every kept key")
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
