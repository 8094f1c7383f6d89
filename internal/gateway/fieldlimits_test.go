package gateway

import (
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestFieldLimitsMatchOpenAPI: the one table of field limits (fieldlimits.go) and the maxLength of
// every schema it names in openapi.yaml are the same numbers.
func TestFieldLimitsMatchOpenAPI(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(openAPISpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range fieldLimits {
		if len(l.Spec) == 0 {
			t.Errorf("limit %q names no place in openapi.yaml", l.Kind)
		}
		for _, loc := range l.Spec {
			var s *openapi3.Schema
			if op, param, ok := strings.Cut(loc, " ?"); ok {
				method, path, _ := strings.Cut(op, " ")
				item := doc.Paths.Value(path)
				if item == nil || item.GetOperation(method) == nil {
					t.Errorf("%s: no such operation", loc)
					continue
				}
				p := item.GetOperation(method).Parameters.GetByInAndName("query", param)
				if p == nil || p.Schema == nil {
					t.Errorf("%s: no such query parameter", loc)
					continue
				}
				s = p.Schema.Value
			} else {
				name, prop, _ := strings.Cut(loc, ".")
				items := strings.HasSuffix(prop, "[]")
				prop = strings.TrimSuffix(prop, "[]")
				ref := doc.Components.Schemas[name]
				if ref == nil || ref.Value.Properties[prop] == nil {
					t.Errorf("%s: no such schema property", loc)
					continue
				}
				s = ref.Value.Properties[prop].Value
				if items {
					s = s.Items.Value
				}
			}
			if s.MaxLength == nil {
				t.Errorf("%s: no maxLength, the %s limit is %d", loc, l.Kind, l.Max)
			} else if *s.MaxLength != uint64(l.Max) {
				t.Errorf("%s: maxLength %d, the %s limit is %d", loc, *s.MaxLength, l.Kind, l.Max)
			}
		}
	}
}
