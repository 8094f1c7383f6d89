package gateway

import (
	_ "embed"
	"net/http"
)

// openAPISpec is the OpenAPI 3.1 description of the REST API (openapi.yaml). TestOpenAPICoversRoutes (auth_test.go)
// checks that every route of Handler has a path in it.
//
//go:embed openapi.yaml
var openAPISpec []byte

// handleOpenAPI serves the OpenAPI document.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPISpec)
}
