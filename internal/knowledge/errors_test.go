package knowledge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/localdeps"
)

func count(t *testing.T, s *knowledge.Store, c, doc uuid.UUID) int {
	t.Helper()
	n, err := s.CountChunks(context.Background(), c, doc)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCountAndTrimStayInTheTenant: counting a document's chunks and deleting those past an
// index act on the creator's tenant only, even when another creator has a document with the
// same id; a tenant that does not exist is ErrTenantNotFound for every operation, and none of
// them creates it.
func TestCountAndTrimStayInTheTenant(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, b := newCreator(t, s), newCreator(t, s)
	doc := uuid.New()
	five := []string{"one", "two", "three", "four", "five"}
	for _, c := range []uuid.UUID{a, b} {
		if err := s.UpsertChunks(ctx, c, docChunks(doc, "Guide", five...)); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, a, doc); n != 5 {
		t.Fatalf("A holds %d chunks", n)
	}
	if err := s.DeleteChunksFrom(ctx, a, doc, 2); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, a, doc); n != 2 {
		t.Fatalf("A after trimming from 2: %d", n)
	}
	if n := count(t, s, b, doc); n != 5 {
		t.Fatalf("B's copy was trimmed by A's call: %d", n)
	}
	if n := count(t, s, a, uuid.New()); n != 0 {
		t.Fatalf("an unknown document counts %d", n)
	}
	got, err := s.Search(ctx, a, "three four five", nil, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("trimmed chunks still found: %v %+v", err, got)
	}

	ghost := uuid.New()
	if _, err := s.CountChunks(ctx, ghost, doc); !errors.Is(err, knowledge.ErrTenantNotFound) {
		t.Fatalf("count in a missing tenant: %v", err)
	}
	if err := s.DeleteChunksFrom(ctx, ghost, doc, 0); !errors.Is(err, knowledge.ErrTenantNotFound) {
		t.Fatalf("trim in a missing tenant: %v", err)
	}
	if err := s.DeleteDocument(ctx, ghost, doc); !errors.Is(err, knowledge.ErrTenantNotFound) {
		t.Fatalf("delete in a missing tenant: %v", err)
	}
	if ok, err := s.TenantExists(ctx, ghost); err != nil || ok {
		t.Fatalf("the missing tenant was created: %v %v", ok, err)
	}
	if _, err := s.CountChunks(ctx, uuid.Nil, doc); err == nil {
		t.Fatal("count with a nil creator")
	}
	if err := s.DeleteDocument(ctx, uuid.Nil, doc); err == nil {
		t.Fatal("delete with a nil creator")
	}
	if _, err := s.TenantExists(ctx, uuid.Nil); err == nil {
		t.Fatal("tenant check with a nil creator")
	}
	if err := s.EnsureTenant(ctx, uuid.Nil); err == nil {
		t.Fatal("a tenant for the nil creator")
	}
}

// TestInvalidChunksWriteNothing: a chunk without a document, with a negative index, or of
// another document passed to ReplaceDocument is refused before anything is written.
func TestInvalidChunksWriteNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := newCreator(t, s)
	doc, other := uuid.New(), uuid.New()
	bad := docChunks(doc, "Guide", "one", "two")
	bad[1].DocumentID = uuid.Nil
	if err := s.UpsertChunks(ctx, c, bad); err == nil {
		t.Fatal("a chunk without a document")
	}
	neg := docChunks(doc, "Guide", "one")
	neg[0].Index = -1
	if err := s.UpsertChunks(ctx, c, neg); err == nil {
		t.Fatal("a negative chunk index")
	}
	mixed := append(docChunks(doc, "Guide", "one"), docChunks(other, "Other", "two")...)
	if err := s.ReplaceDocument(ctx, c, doc, mixed); err == nil {
		t.Fatal("another document's chunk in ReplaceDocument")
	}
	if n := count(t, s, c, doc) + count(t, s, c, other); n != 0 {
		t.Fatalf("%d chunks written by refused calls", n)
	}
	if err := s.UpsertChunks(ctx, c, nil); err != nil {
		t.Fatalf("no chunks: %v", err)
	}
}

// TestEnsureTenantConcurrently: replicas creating one creator's tenant at once all succeed.
func TestEnsureTenantConcurrently(t *testing.T) {
	ctx := context.Background()
	c := uuid.New()
	stores := []*knowledge.Store{newStore(t), newStore(t), newStore(t), newStore(t)}
	var wg sync.WaitGroup
	errs := make([]error, 2*len(stores))
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = stores[i%len(stores)].EnsureTenant(ctx, c) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := stores[0].TenantExists(ctx, c); err != nil || !ok {
		t.Fatalf("tenant: %v %v", ok, err)
	}
}

// TestNewRefusesBadWeaviate: a URL that is not http(s)://host is refused; a Weaviate that does
// not answer fails New; an unreachable gRPC address is reported on the store's logger.
func TestNewRefusesBadWeaviate(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"", "localhost:8080", "ftp://host:1", "http://"} {
		if _, err := knowledge.New(ctx, u); err == nil {
			t.Fatalf("New(%q) accepted", u)
		}
	}
	port, err := localdeps.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := knowledge.New(ctx, fmt.Sprintf("http://127.0.0.1:%d", port)); err == nil {
		t.Fatal("New against a closed port")
	}
	var logs bytes.Buffer
	s := newStore(t, knowledge.WithGRPC(fmt.Sprintf("127.0.0.1:%d", port)), knowledge.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if s.UsesGRPC() {
		t.Fatal("a closed port is used for gRPC")
	}
	if !bytes.Contains(logs.Bytes(), []byte("weaviate gRPC not reachable: searching over GraphQL")) {
		t.Fatalf("the fallback was not reported: %q", logs.String())
	}
}
