package knowledge

import "context"

// WithAPIKey authenticates to Weaviate with an API key (AUTHENTICATION_APIKEY_ALLOWED_KEYS on
// the server; COACHWIRE_WEAVIATE_API_KEY, or the key the embedded Weaviate is started with):
// "Authorization: Bearer <key>" on REST and gRPC. Empty: anonymous.
func WithAPIKey(key string) Option { return func(s *Store) { s.apiKey = key } }

// bearer is the gRPC per-call credential of an API key. Weaviate runs on loopback or a private
// network without TLS, so it is sent over plain connections too.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
