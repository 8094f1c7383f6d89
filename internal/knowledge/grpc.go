package knowledge

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// Searches go over Weaviate's gRPC API when its address is known: the query vector travels as
// 3 KB of little-endian floats instead of ~10 KB of decimal text in a GraphQL query that the
// server must parse, which makes a hybrid search about as cheap as a BM25 one. GraphQL stays
// the fallback (no gRPC address, or the port does not answer at start).

// WithGRPC makes searches use Weaviate's gRPC API at addr (host:port).
func WithGRPC(addr string) Option { return func(s *Store) { s.grpcAddr = addr } }

// UsesGRPC reports whether searches go over gRPC (false: GraphQL).
func (s *Store) UsesGRPC() bool { return s.rpc != nil }

// dialGRPC connects to the gRPC address and checks the server's health.
func dialGRPC(ctx context.Context, addr, apiKey string) (*grpc.ClientConn, pb.WeaviateClient, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20))}
	if apiKey != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(apiKey)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, err := grpc_health_v1.NewHealthClient(conn).Check(hctx, &grpc_health_v1.HealthCheckRequest{})
	if err == nil && h.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		err = fmt.Errorf("health %s", h.Status)
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return conn, pb.NewWeaviateClient(conn), nil
}

var resultProperties = []string{"document_id", "title", "heading", "headings", "text", "chunk_index", "page"}

// searchGRPC is Search over gRPC; q is the cleaned query.
func (s *Store) searchGRPC(ctx context.Context, tenant, q string, vec []float32, limit int) ([]Passage, error) {
	req := &pb.SearchRequest{
		Collection: ClassName, Tenant: tenant, Limit: uint32(limit),
		Properties:  &pb.PropertiesRequest{NonRefProperties: resultProperties},
		Metadata:    &pb.MetadataRequest{Uuid: true, Score: true},
		Uses_127Api: true, // properties come back in the typed (non-struct) form
	}
	if len(vec) == 0 {
		req.Bm25Search = &pb.BM25{Query: q, Properties: searchProperties}
	} else {
		h := &pb.Hybrid{Query: q, Properties: searchProperties, Alpha: s.alpha, FusionType: pb.Hybrid_FUSION_TYPE_RELATIVE_SCORE,
			VectorBytes: float32Bytes(vec)}
		if q == "" {
			h.Alpha = 1
		}
		req.HybridSearch = h
	}
	reply, err := s.rpc.Search(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]Passage, 0, len(reply.Results))
	for _, r := range reply.Results {
		f := r.GetProperties().GetNonRefProps().GetFields()
		p := Passage{Title: f["title"].GetTextValue(), Heading: f["heading"].GetTextValue(), Section: f["headings"].GetTextValue(), Text: f["text"].GetTextValue(),
			ChunkIndex: int(f["chunk_index"].GetIntValue()), Page: int(f["page"].GetIntValue()), Score: float64(r.GetMetadata().GetScore())}
		id, err := uuid.Parse(f["document_id"].GetTextValue())
		if err != nil {
			return nil, fmt.Errorf("knowledge: search result with bad document_id %q", f["document_id"].GetTextValue())
		}
		p.DocumentID = id
		out = append(out, p)
	}
	return out, nil
}

// float32Bytes encodes a vector the way Weaviate's gRPC API reads vector_bytes.
func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}
