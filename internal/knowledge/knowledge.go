// Package knowledge is coachwire's Weaviate adapter: it stores creators'
// document chunks in the multi-tenant collection "Chunk" (one tenant per
// creator, named by the creator id) and searches them with BM25 or hybrid
// (BM25 + vector) queries.
//
// It must never read or write outside the tenant of the creator id the
// caller passes (taken from authentication, never from a request), never
// create tenants implicitly (auto tenant creation is off; EnsureTenant is the
// only way), and never hold data that cannot be rebuilt from Postgres: the
// index is derived state.
package knowledge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-openapi/strfmt"
	"github.com/google/uuid"
	"github.com/weaviate/weaviate-go-client/v4/weaviate"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/fault"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/filters"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/analysis"
	"github.com/coachwire/coachwire/internal/thesaurus"
)

// ClassName is the Weaviate collection holding every creator's chunks.
const ClassName = "Chunk"

// DefaultAlpha weights vectors against BM25 in hybrid search (0 = BM25 only,
// 1 = vectors only).
const DefaultAlpha float32 = 0.5

// batchSize bounds objects per batch request.
const batchSize = 100

// chunkIDNamespace is the UUIDv5 namespace of chunk object ids.
var chunkIDNamespace = uuid.MustParse("3f1c1e0a-8a5b-5c36-9a55-2b0f6f6c7a11")

// ErrTenantNotFound reports an operation on a creator whose tenant does not
// exist (EnsureTenant was never called for it).
var ErrTenantNotFound = errors.New("knowledge: tenant not found")

// Chunk is one piece of a document to index.
type Chunk struct {
	DocumentID uuid.UUID
	Index      int // position in the document, from 0
	Title      string
	Heading    string
	// Headings is the heading path of the chunk's section ("Sleep › Naps"); "" takes Heading.
	Headings string
	Page     int // 1-based page or slide the text came from; 0 when the format has none
	Text     string
	// Lang is the document's language (internal/analysis): the chunk's own is detected from its
	// text when that is reliable, else Lang is used ("": the detection's best guess).
	Lang   analysis.Lang
	Vector []float32 // optional embedding of Text
}

// Passage is a search hit.
type Passage struct {
	DocumentID uuid.UUID
	Title      string
	Heading    string
	// Section is the heading path of the passage's section ("Sleep › Naps"; "" before the
	// first heading).
	Section    string
	Page       int
	Text       string
	ChunkIndex int
	Score      float64 // BM25 or hybrid score; higher is better
}

// Store is the Weaviate-backed knowledge index. It is safe for concurrent
// use.
type Store struct {
	client *weaviate.Client
	alpha  float32
	// grpcAddr, when set, is Weaviate's gRPC address; rpc is the connected search client (nil:
	// searches use GraphQL).
	grpcAddr string
	grpcConn *grpc.ClientConn
	rpc      pb.WeaviateClient
	log      *slog.Logger
	// apiKey is sent as a bearer token on REST and gRPC (WithAPIKey).
	apiKey string
	vocabs vocabCache
}

// Option configures a Store.
type Option func(*Store)

// WithAlpha sets the hybrid search weight (see DefaultAlpha).
func WithAlpha(alpha float32) Option { return func(s *Store) { s.alpha = alpha } }

// WithLogger sets where the Store reports a gRPC fallback.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// New connects to Weaviate's REST API at rawURL (http://host:port) and
// ensures the Chunk collection exists with the expected settings.
func New(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("knowledge: invalid Weaviate URL %q: want http(s)://host:port", rawURL)
	}
	s := &Store{alpha: DefaultAlpha, log: slog.New(slog.DiscardHandler)}
	go analysis.LoadLexicon() // the cross-language lexicon (xlang.go): off the first question's path
	for _, o := range opts {
		o(s)
	}
	wc := weaviate.Config{Host: u.Host, Scheme: u.Scheme, Timeout: 30 * time.Second}
	if s.apiKey != "" {
		wc.Headers = map[string]string{"Authorization": "Bearer " + s.apiKey}
	}
	if s.client, err = weaviate.NewClient(wc); err != nil {
		return nil, fmt.Errorf("knowledge: weaviate client: %w", err)
	}
	go thesaurus.Load() // read while the Store starts; a first search waits for the rest
	if err := s.EnsureSchema(ctx); err != nil {
		return nil, err
	}
	if s.grpcAddr != "" {
		conn, rpc, err := dialGRPC(ctx, s.grpcAddr, s.apiKey)
		if err != nil {
			s.log.Warn("weaviate gRPC not reachable: searching over GraphQL", "grpc_addr", s.grpcAddr, "err", err)
		} else {
			s.grpcConn, s.rpc = conn, rpc
		}
	}
	return s, nil
}

// Close releases the gRPC connection.
func (s *Store) Close() error {
	if s.grpcConn != nil {
		return s.grpcConn.Close()
	}
	return nil
}

// Ready reports whether Weaviate answers its readiness probe.
func (s *Store) Ready(ctx context.Context) error {
	ok, err := s.client.Misc().ReadyChecker().Do(ctx)
	if err != nil {
		return fmt.Errorf("knowledge: weaviate readiness: %w", err)
	}
	if !ok {
		return errors.New("knowledge: weaviate not ready")
	}
	return nil
}

func chunkClass() *models.Class {
	falseP, trueP := new(bool), new(bool)
	*trueP = true
	// Searchable (BM25) but not filterable: nothing filters on the words of a chunk, and the
	// filterable index doubled Weaviate's work per chunk written (2,000 chunks of 3.5 KB:
	// 3.5–5.8 s with it, 1.5–2.5 s without, on a busy 2-core machine). Collections created
	// before keep theirs until recreated.
	textProp := func(name string) *models.Property {
		return &models.Property{Name: name, DataType: []string{"text"}, Tokenization: "word", IndexSearchable: trueP, IndexFilterable: falseP}
	}
	idProp := func(name string) *models.Property {
		return &models.Property{Name: name, DataType: []string{"text"}, Tokenization: "field", IndexSearchable: falseP, IndexFilterable: trueP}
	}
	// Analysed text (internal/analysis) is stored as space-separated terms.
	termsProp := func(name string) *models.Property {
		return &models.Property{Name: name, DataType: []string{"text"}, Tokenization: "whitespace", IndexSearchable: trueP, IndexFilterable: falseP}
	}
	return &models.Class{
		Class:           ClassName,
		Description:     "A chunk of a creator's document; one tenant per creator.",
		Vectorizer:      "none",
		VectorIndexType: "hnsw",
		VectorIndexConfig: map[string]any{
			"distance": "cosine",
		},
		MultiTenancyConfig: &models.MultiTenancyConfig{
			Enabled:              true,
			AutoTenantCreation:   false,
			AutoTenantActivation: false,
		},
		Properties: []*models.Property{
			idProp("document_id"),
			idProp("creator_id"),
			textProp("title"),
			textProp("heading"),
			textProp("text"),
			{Name: "chunk_index", DataType: []string{"int"}, IndexFilterable: trueP},
			{Name: "page", DataType: []string{"int"}, IndexFilterable: falseP},
			textProp("headings"),
			termsProp("head_stemmed"),
			termsProp("text_stemmed"),
			idProp("lang"),
			{Name: "index_version", DataType: []string{"int"}, IndexFilterable: trueP},
		},
	}
}

// EnsureSchema creates the Chunk collection if it is missing and checks that
// an existing one has multi-tenancy on and auto tenant creation off. It is
// idempotent and safe to run from several processes at once.
func (s *Store) EnsureSchema(ctx context.Context) error {
	if err := s.ensureChunkClass(ctx); err != nil {
		return err
	}
	return s.ensureTermClass(ctx)
}

// ensureTermClass creates the vocabulary collection if it is missing.
func (s *Store) ensureTermClass(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		exists, err := s.client.Schema().ClassExistenceChecker().WithClassName(TermClassName).Do(ctx)
		if err != nil {
			return fmt.Errorf("knowledge: check class %s: %w", TermClassName, err)
		}
		if exists {
			return nil
		}
		err = s.client.Schema().ClassCreator().WithClass(termClass()).Do(ctx)
		if err == nil {
			return nil
		}
		if attempt > 0 {
			return fmt.Errorf("knowledge: create class %s: %w", TermClassName, err)
		}
	}
}

func (s *Store) ensureChunkClass(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		cls, err := s.getClass(ctx)
		if err != nil {
			return err
		}
		if cls != nil {
			if err := s.addMissingProperties(ctx, cls); err != nil {
				return err
			}
			return checkClass(cls)
		}
		err = s.client.Schema().ClassCreator().WithClass(chunkClass()).Do(ctx)
		if err == nil {
			return nil
		}
		// Another process may have created it in between: look again once.
		if attempt > 0 {
			return fmt.Errorf("knowledge: create class %s: %w", ClassName, err)
		}
	}
}

func (s *Store) getClass(ctx context.Context) (*models.Class, error) {
	exists, err := s.client.Schema().ClassExistenceChecker().WithClassName(ClassName).Do(ctx)
	if err != nil {
		return nil, fmt.Errorf("knowledge: check class %s: %w", ClassName, err)
	}
	if !exists {
		return nil, nil
	}
	cls, err := s.client.Schema().ClassGetter().WithClassName(ClassName).Do(ctx)
	if err != nil {
		return nil, fmt.Errorf("knowledge: get class %s: %w", ClassName, err)
	}
	return cls, nil
}

// addedProperties are properties added after the collection was first created; an existing
// collection without them gets them (Weaviate adds properties in place).
var addedProperties = []string{"page", "headings", "head_stemmed", "text_stemmed", "lang", "index_version"}

func (s *Store) addMissingProperties(ctx context.Context, cls *models.Class) error {
	have := map[string]bool{}
	for _, p := range cls.Properties {
		have[p.Name] = true
	}
	for _, p := range chunkClass().Properties {
		if have[p.Name] || !slices.Contains(addedProperties, p.Name) {
			continue
		}
		err := s.client.Schema().PropertyCreator().WithClassName(ClassName).WithProperty(p).Do(ctx)
		if err != nil && !strings.Contains(strings.ToLower(err.Error()), "already exists") {
			return fmt.Errorf("knowledge: add property %q to %s: %w", p.Name, ClassName, err)
		}
		cls.Properties = append(cls.Properties, p)
	}
	return nil
}

func checkClass(cls *models.Class) error {
	mt := cls.MultiTenancyConfig
	if mt == nil || !mt.Enabled {
		return fmt.Errorf("knowledge: class %s exists without multi-tenancy; refusing to use it", ClassName)
	}
	if mt.AutoTenantCreation {
		return fmt.Errorf("knowledge: class %s has auto tenant creation on; refusing to use it", ClassName)
	}
	have := map[string]bool{}
	for _, p := range cls.Properties {
		have[p.Name] = true
	}
	for _, p := range chunkClass().Properties {
		if !have[p.Name] {
			return fmt.Errorf("knowledge: class %s lacks property %q", ClassName, p.Name)
		}
	}
	return nil
}

func tenantName(creatorID uuid.UUID) (string, error) {
	if creatorID == uuid.Nil {
		return "", errors.New("knowledge: nil creator id")
	}
	return creatorID.String(), nil
}

// EnsureTenant creates the creator's tenants (chunks and vocabulary) if they do not exist. It is
// idempotent.
func (s *Store) EnsureTenant(ctx context.Context, creatorID uuid.UUID) error {
	name, err := tenantName(creatorID)
	if err != nil {
		return err
	}
	for _, class := range []string{ClassName, TermClassName} {
		if err := s.ensureTenantIn(ctx, class, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) ensureTenantIn(ctx context.Context, class, name string) error {
	exists, err := s.tenantExistsIn(ctx, class, name)
	if err != nil {
		return err
	}
	if exists {
		return nil
	}
	err = s.client.Schema().TenantsCreator().WithClassName(class).
		WithTenants(models.Tenant{Name: name, ActivityStatus: models.TenantActivityStatusHOT}).Do(ctx)
	if err != nil {
		// Lost a race with another replica?
		if ok, err2 := s.tenantExistsIn(ctx, class, name); err2 == nil && ok {
			return nil
		}
		return fmt.Errorf("knowledge: create tenant %s in %s: %w", name, class, err)
	}
	return nil
}

func (s *Store) tenantExistsIn(ctx context.Context, class, name string) (bool, error) {
	ok, err := s.client.Schema().TenantsExists().WithClassName(class).WithTenant(name).Do(ctx)
	if err != nil {
		var fe *fault.WeaviateClientError
		if errors.As(err, &fe) && fe.StatusCode == 404 {
			return false, nil
		}
		return false, fmt.Errorf("knowledge: check tenant %s in %s: %w", name, class, err)
	}
	return ok, nil
}

// TenantExists reports whether the creator's tenant exists.
func (s *Store) TenantExists(ctx context.Context, creatorID uuid.UUID) (bool, error) {
	name, err := tenantName(creatorID)
	if err != nil {
		return false, err
	}
	return s.tenantExistsIn(ctx, ClassName, name)
}

// ChunkID is the deterministic object id of a document's chunk: UUIDv5 over
// the document id, chunk index and IndexVersion, so a re-import overwrites, never
// duplicates, and a reindex into a new IndexVersion writes beside the old chunks
// until it is complete (version 1 ids had no version).
func ChunkID(documentID uuid.UUID, index int) uuid.UUID {
	return uuid.NewSHA1(chunkIDNamespace, []byte(documentID.String()+"/"+strconv.Itoa(index)+"/v"+strconv.Itoa(IndexVersion)))
}

// UpsertChunks writes chunks into the creator's tenant, replacing chunks with
// the same document id and index. The tenant must exist (see EnsureTenant);
// otherwise the write fails with ErrTenantNotFound. Chunks of a document that
// are no longer produced are left in place: use ReplaceDocument for that.
func (s *Store) UpsertChunks(ctx context.Context, creatorID uuid.UUID, chunks []Chunk) error {
	tenant, err := tenantName(creatorID)
	if err != nil {
		return err
	}
	for start := 0; start < len(chunks); start += batchSize {
		part := chunks[start:min(start+batchSize, len(chunks))]
		objs := make([]*models.Object, 0, len(part))
		var words []string
		seen := map[string]bool{}
		for _, c := range part {
			if c.DocumentID == uuid.Nil {
				return errors.New("knowledge: chunk without document id")
			}
			if c.Index < 0 {
				return fmt.Errorf("knowledge: chunk of %s has negative index %d", c.DocumentID, c.Index)
			}
			a := analyse(c)
			for _, w := range a.words {
				if !seen[w] {
					seen[w] = true
					words = append(words, w)
				}
			}
			headings := c.Headings
			if headings == "" {
				headings = c.Heading
			}
			obj := &models.Object{
				Class:  ClassName,
				ID:     strfmtUUID(ChunkID(c.DocumentID, c.Index)),
				Tenant: tenant,
				Properties: map[string]any{
					"document_id":   c.DocumentID.String(),
					"creator_id":    tenant,
					"title":         c.Title,
					"heading":       c.Heading,
					"headings":      headings,
					"text":          c.Text,
					"chunk_index":   c.Index,
					"page":          c.Page,
					"head_stemmed":  a.headStemmed,
					"text_stemmed":  a.textStemmed,
					"lang":          string(a.lang),
					"index_version": IndexVersion,
				},
			}
			if len(c.Vector) > 0 {
				obj.Vector = models.C11yVector(c.Vector)
			}
			objs = append(objs, obj)
		}
		resp, err := s.client.Batch().ObjectsBatcher().WithObjects(objs...).Do(ctx)
		if err != nil {
			return s.classify(ctx, creatorID, fmt.Errorf("knowledge: batch upsert: %w", err))
		}
		var msgs []string
		for _, r := range resp {
			if r.Result != nil && r.Result.Errors != nil {
				for _, e := range r.Result.Errors.Error {
					if e != nil {
						msgs = append(msgs, e.Message)
					}
				}
			}
		}
		if len(msgs) > 0 {
			return s.classify(ctx, creatorID, fmt.Errorf("knowledge: batch upsert: %d object errors, first: %s", len(msgs), msgs[0]))
		}
		if err := s.upsertTerms(ctx, tenant, words); err != nil {
			return s.classify(ctx, creatorID, err)
		}
	}
	s.forgetVocab(tenant)
	return nil
}

// ReplaceDocument upserts chunks (all of one document) and then deletes that
// document's chunks with an index at or past len(chunks), so a re-import that
// produced fewer chunks leaves no stale ones. The document is never absent
// from search in between.
func (s *Store) ReplaceDocument(ctx context.Context, creatorID, documentID uuid.UUID, chunks []Chunk) error {
	for _, c := range chunks {
		if c.DocumentID != documentID {
			return fmt.Errorf("knowledge: chunk of document %s passed to ReplaceDocument(%s)", c.DocumentID, documentID)
		}
	}
	if err := s.UpsertChunks(ctx, creatorID, chunks); err != nil {
		return err
	}
	return s.DeleteChunksFrom(ctx, creatorID, documentID, len(chunks))
}

func docFilter(documentID uuid.UUID) *filters.WhereBuilder {
	return filters.Where().WithPath([]string{"document_id"}).WithOperator(filters.Equal).WithValueText(documentID.String())
}

// DeleteChunksFrom removes the document's chunks with an index at or past from, and its chunks
// of an older IndexVersion: what is left of an earlier version after its new chunks were all
// written with UpsertChunks. Until then the old chunks stay searchable (a reindex never leaves
// a document unsearchable).
func (s *Store) DeleteChunksFrom(ctx context.Context, creatorID, documentID uuid.UUID, from int) error {
	where := filters.Where().WithOperator(filters.And).WithOperands([]*filters.WhereBuilder{
		docFilter(documentID),
		filters.Where().WithOperator(filters.Or).WithOperands([]*filters.WhereBuilder{
			filters.Where().WithPath([]string{"chunk_index"}).WithOperator(filters.GreaterThanEqual).WithValueInt(int64(from)),
			filters.Where().WithPath([]string{"index_version"}).WithOperator(filters.NotEqual).WithValueInt(IndexVersion),
		}),
	})
	return s.deleteWhere(ctx, creatorID, where)
}

// CountChunks returns how many chunks of the document the creator's tenant holds.
func (s *Store) CountChunks(ctx context.Context, creatorID, documentID uuid.UUID) (int, error) {
	tenant, err := tenantName(creatorID)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.GraphQL().Aggregate().WithClassName(ClassName).WithTenant(tenant).WithWhere(docFilter(documentID)).
		WithFields(graphql.Field{Name: "meta", Fields: []graphql.Field{{Name: "count"}}}).Do(ctx)
	if err != nil {
		return 0, s.classify(ctx, creatorID, fmt.Errorf("knowledge: count: %w", err))
	}
	if len(resp.Errors) > 0 {
		return 0, s.classify(ctx, creatorID, fmt.Errorf("knowledge: count: %s", resp.Errors[0].Message))
	}
	agg, _ := resp.Data["Aggregate"].(map[string]any)
	items, _ := agg[ClassName].([]any)
	if len(items) == 0 {
		return 0, nil
	}
	m, _ := items[0].(map[string]any)
	meta, _ := m["meta"].(map[string]any)
	f, _ := meta["count"].(float64)
	return int(f), nil
}

// DeleteDocument removes every chunk of the document from the creator's
// tenant. Deleting a document with no chunks is not an error.
func (s *Store) DeleteDocument(ctx context.Context, creatorID, documentID uuid.UUID) error {
	return s.deleteWhere(ctx, creatorID, docFilter(documentID))
}

func (s *Store) deleteWhere(ctx context.Context, creatorID uuid.UUID, where *filters.WhereBuilder) error {
	tenant, err := tenantName(creatorID)
	if err != nil {
		return err
	}
	// A batch delete removes at most QUERY_MAXIMUM_RESULTS objects; repeat
	// until nothing matches.
	for round := 0; round < 1000; round++ {
		resp, err := s.client.Batch().ObjectsBatchDeleter().WithClassName(ClassName).
			WithTenant(tenant).WithWhere(where).WithOutput("minimal").Do(ctx)
		if err != nil {
			return s.classify(ctx, creatorID, fmt.Errorf("knowledge: batch delete: %w", err))
		}
		if resp == nil || resp.Results == nil {
			return nil
		}
		if resp.Results.Failed > 0 {
			return fmt.Errorf("knowledge: batch delete: %d objects failed", resp.Results.Failed)
		}
		if resp.Results.Matches == 0 || resp.Results.Successful == 0 || resp.Results.Matches < resp.Results.Limit {
			return nil
		}
	}
	return errors.New("knowledge: batch delete did not converge")
}

// classify turns a failed write or query into ErrTenantNotFound when the
// tenant is missing.
func (s *Store) classify(ctx context.Context, creatorID uuid.UUID, err error) error {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "tenant not found") || strings.Contains(msg, "no tenant found") {
		return fmt.Errorf("%w: %s: %w", ErrTenantNotFound, creatorID, err)
	}
	if ok, e := s.TenantExists(ctx, creatorID); e == nil && !ok {
		return fmt.Errorf("%w: %s: %w", ErrTenantNotFound, creatorID, err)
	}
	return err
}

// Search finds up to limit passages in the creator's tenant. With a nil (or
// empty) queryVector it runs BM25F over the original and analysed fields
// (searchProperties; the query is built by queryText); otherwise a hybrid query
// with the Store's alpha. The query text is untrusted: it is cleaned of
// characters GraphQL strings cannot carry before it is sent.
func (s *Store) Search(ctx context.Context, creatorID uuid.UUID, query string, queryVector []float32, limit int) ([]Passage, error) {
	ps, _, err := s.SearchExpanded(ctx, creatorID, query, queryVector, limit)
	return ps, err
}

// SearchExpanded is Search that also returns, per content word of the query, the words the
// search used for it (corrections, translations, cognates, related words, with their weight;
// nil when none): the passages-mode reply (passages.SelectWith) counts a question word as
// present in a passage holding one of them.
func (s *Store) SearchExpanded(ctx context.Context, creatorID uuid.UUID, query string, queryVector []float32, limit int) ([]Passage, *events.Expansions, error) {
	ctx, span := searchSpan(ctx, creatorID, queryVector, limit) // trace.go
	defer span.End()
	tenant, err := tenantName(creatorID)
	if err != nil {
		return nil, nil, err
	}
	if limit <= 0 {
		limit = 5
	}
	q := cleanQuery(query)
	if q == "" && len(queryVector) == 0 {
		return nil, nil, nil
	}
	asked := q
	var x *events.Expansions
	if q != "" {
		var text string
		text, x = s.queryTerms(ctx, tenant, q)
		q = cleanQuery(text)
	}
	// The hits are reranked by how much of the question they cover (rerank.go). A document
	// being reindexed has chunks of two versions: one of each (document, chunk) is kept, and
	// when that left fewer than asked of a full answer, the search runs once more for twice as
	// many. (Reading twice limit hits to rerank measured +0.005 BM25 MRR on make eval, for twice
	// the rerank's cost: ~0.5 ms of CPU for 20 hits of 1,000 tokens on a busy machine.)
	fetch := limit
	ps, err := s.search(ctx, creatorID, tenant, q, queryVector, fetch)
	if err != nil {
		return nil, nil, err
	}
	if n := len(ps); n == fetch {
		if ps = dedupe(ps, fetch); len(ps) < n {
			ps, err = s.search(ctx, creatorID, tenant, q, queryVector, 2*fetch)
			if err != nil {
				return nil, nil, err
			}
		}
	}
	ps = dedupe(ps, fetch)
	if asked != "" {
		rerank(asked, x, ps) // rerank.go
	}
	return ps[:min(len(ps), limit)], x, nil
}

func (s *Store) search(ctx context.Context, creatorID uuid.UUID, tenant, q string, queryVector []float32, fetch int) ([]Passage, error) {
	if s.rpc != nil {
		ps, err := s.searchGRPC(ctx, tenant, q, queryVector, fetch)
		if err != nil {
			return nil, s.classify(ctx, creatorID, fmt.Errorf("knowledge: search: %w", err))
		}
		return ps, nil
	}
	get := s.client.GraphQL().Get().WithClassName(ClassName).WithTenant(tenant).WithLimit(fetch).
		WithFields(
			graphql.Field{Name: "document_id"},
			graphql.Field{Name: "title"},
			graphql.Field{Name: "heading"},
			graphql.Field{Name: "headings"},
			graphql.Field{Name: "text"},
			graphql.Field{Name: "chunk_index"},
			graphql.Field{Name: "page"},
			graphql.Field{Name: "_additional", Fields: []graphql.Field{{Name: "id"}, {Name: "score"}}},
		)
	if len(queryVector) == 0 {
		get = get.WithBM25(s.client.GraphQL().Bm25ArgBuilder().WithQuery(q).WithProperties(searchProperties...))
	} else {
		h := s.client.GraphQL().HybridArgumentBuilder().WithVector(queryVector).WithAlpha(s.alpha).
			WithProperties(searchProperties).WithFusionType(graphql.RelativeScore)
		if q != "" {
			h = h.WithQuery(q)
		} else {
			h = h.WithAlpha(1)
		}
		get = get.WithHybrid(h)
	}
	resp, err := get.Do(ctx)
	if err != nil {
		return nil, s.classify(ctx, creatorID, fmt.Errorf("knowledge: search: %w", err))
	}
	if len(resp.Errors) > 0 {
		msgs := make([]string, 0, len(resp.Errors))
		for _, e := range resp.Errors {
			msgs = append(msgs, e.Message)
		}
		return nil, s.classify(ctx, creatorID, fmt.Errorf("knowledge: search: %s", strings.Join(msgs, "; ")))
	}
	return parsePassages(resp)
}

func parsePassages(resp *models.GraphQLResponse) ([]Passage, error) {
	get, _ := resp.Data["Get"].(map[string]any)
	items, _ := get[ClassName].([]any)
	out := make([]Passage, 0, len(items))
	for _, it := range items {
		m, _ := it.(map[string]any)
		if m == nil {
			continue
		}
		p := Passage{
			Title:   str(m["title"]),
			Heading: str(m["heading"]),
			Section: str(m["headings"]),
			Text:    str(m["text"]),
		}
		id, err := uuid.Parse(str(m["document_id"]))
		if err != nil {
			return nil, fmt.Errorf("knowledge: search result with bad document_id %q", str(m["document_id"]))
		}
		p.DocumentID = id
		if f, ok := m["chunk_index"].(float64); ok {
			p.ChunkIndex = int(f)
		}
		if f, ok := m["page"].(float64); ok {
			p.Page = int(f)
		}
		if add, ok := m["_additional"].(map[string]any); ok {
			switch v := add["score"].(type) {
			case string:
				p.Score, _ = strconv.ParseFloat(v, 64)
			case float64:
				p.Score = v
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// cleanQuery makes untrusted text safe to embed in a GraphQL string literal
// (the client quotes it with Go's %q, whose escapes for control and
// non-printable characters GraphQL does not accept): invalid UTF-8 and
// non-printable characters become spaces, and the result is capped in size.
func cleanQuery(q string) string {
	q = strings.ToValidUTF8(q, " ")
	q = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, q)
	q = strings.Join(strings.Fields(q), " ")
	const maxQuery = 2000
	if len(q) > maxQuery {
		cut := maxQuery
		for cut > 0 && !utf8.RuneStart(q[cut]) {
			cut--
		}
		q = q[:cut]
	}
	return q
}

func strfmtUUID(id uuid.UUID) strfmt.UUID { return strfmt.UUID(id.String()) }
