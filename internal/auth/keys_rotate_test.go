package auth

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestRotateKeysRetires: each rotation retires the signing key at that time; a key retired
// longer than keep ago is dropped (its tokens have expired), a younger one keeps verifying.
func TestRotateKeysRetires(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwt.json")
	if err := GenerateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	s0, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	k0 := s0.SigningKeyID()
	tok0, _, _ := s0.IssueAccess(claimsFor(uuid.New()))
	t0 := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	keep := time.Hour

	r1, err := RotateKeys(path, t0, keep)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r1.Kept, []string{k0}) || len(r1.Dropped) != 0 {
		t.Fatalf("first rotation: %+v", r1)
	}
	s1, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if s1.SigningKeyID() != r1.KID {
		t.Fatalf("signs with %s, want the new %s", s1.SigningKeyID(), r1.KID)
	}
	if _, err := s1.VerifyAccess(tok0); err != nil {
		t.Fatalf("a token of the retired key no longer verifies: %v", err)
	}

	r2, err := RotateKeys(path, t0.Add(50*time.Minute), keep)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r2.Kept, []string{r1.KID, k0}) || len(r2.Dropped) != 0 {
		t.Fatalf("second rotation, 50 min later: %+v", r2)
	}
	r3, err := RotateKeys(path, t0.Add(90*time.Minute), keep)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r3.Kept, []string{r2.KID, r1.KID}) || !slices.Equal(r3.Dropped, []string{k0}) {
		t.Fatalf("third rotation, 90 min after the first: %+v", r3)
	}
	entries, err := readKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || entries[0].Retired != nil || !entries[1].Retired.Equal(t0.Add(90*time.Minute)) || !entries[2].Retired.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("key file after three rotations: %+v", entries)
	}
	s3, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3.VerifyAccess(tok0); err == nil {
		t.Fatal("a token of a dropped key still verifies")
	}
}
