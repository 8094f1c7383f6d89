package llm

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/ollama/ollama/api"
)

// ollamaEmbedAnswer is an /api/embed answer as Ollama writes it: n vectors of dim decimals.
func ollamaEmbedAnswer(n, dim int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	vs := make([][]float32, n)
	for i := range vs {
		vs[i] = make([]float32, dim)
		for j := range vs[i] {
			vs[i][j] = float32(r.NormFloat64() / 20)
		}
	}
	b, _ := json.Marshal(api.EmbedResponse{Model: "nomic-embed-text", Embeddings: vs, TotalDuration: 12345678, LoadDuration: 1234, PromptEvalCount: 9})
	return b
}

// sameAsEncodingJSON checks that parseEmbedResponse either declines raw or decodes it exactly
// as encoding/json does; it returns whether the fast path took it.
func sameAsEncodingJSON(t testing.TB, raw []byte) bool {
	var fast api.EmbedResponse
	ok := parseEmbedResponse(raw, &fast)
	if !ok {
		return false
	}
	var want api.EmbedResponse
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("fast path took %q, encoding/json refuses it: %v", raw, err)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("fast path decoded %q as\n%#v\nencoding/json as\n%#v", raw, fast, want)
	}
	return true
}

func TestParseEmbedResponse(t *testing.T) {
	taken := []string{
		string(ollamaEmbedAnswer(1, 768, 1)),
		string(ollamaEmbedAnswer(3, 16, 2)),
		`{"model":"m","embeddings":[[0.1,-2.5e-3,3E+2,0,-0,1e-45,3.4028234e38]],"prompt_eval_count":4}`,
		` { "model" : "m" , "embeddings" : [ [ 1 , 2 ] , [ ] , [3] ] } `,
		`{"embeddings":[]}`,
		`{"embeddings":null}`,
		`{}`,
		"{\n\t\"embeddings\": [[1.5]],\r\n \"total_duration\": -7, \"load_duration\": 0}",
		`{"model":"a","model":"b","embeddings":[[1]]}`,
		`{"model":"nomic-embed-text:latest ✓","embeddings":[[1]]}`,
	}
	for _, raw := range taken {
		if !sameAsEncodingJSON(t, []byte(raw)) {
			t.Errorf("fast path declined %q", raw)
		}
	}
	declined := []string{
		``, `[]`, `{`, `{"embeddings":[[1,]]}`, `{"embeddings":[[01]]}`, `{"embeddings":[[1.]]}`, `{"embeddings":[[.5]]}`,
		`{"embeddings":[[1e]]}`, `{"embeddings":[[+1]]}`, `{"embeddings":[[NaN]]}`, `{"embeddings":[[1e39]]}`,
		`{"embeddings":[null]}`, `{"embeddings":[[null]]}`, `{"embeddings":[["1"]]}`, `{"embeddings":[[1]],"embeddings":[[2]]}`,
		`{"Model":"m"}`, `{"EMBEDDINGS":[[1]]}`, `{"extra":1}`, `{"model":"a\"b"}`, `{"model":"a\u00e9"}`, "{\"model\":\"\xff\"}",
		`{"prompt_eval_count":1.5}`, `{"prompt_eval_count":1e2}`, `{"prompt_eval_count":99999999999999999999}`,
		`{"embeddings":[[1]]} x`, `{"embeddings":[[1]]}}`, `{"embeddings":[[1]] "model":"m"}`, `{,}`, `{"model":"m",}`,
	}
	for _, raw := range declined {
		if sameAsEncodingJSON(t, []byte(raw)) {
			t.Errorf("fast path took %q", raw)
		}
	}
}

func FuzzParseEmbedResponse(f *testing.F) {
	f.Add(ollamaEmbedAnswer(2, 4, 3))
	f.Add([]byte(`{"model":"m","embeddings":[[1e-3,-0.5],[]],"prompt_eval_count":2}`))
	f.Add([]byte(`{"embeddings":null,"total_duration":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) { sameAsEncodingJSON(t, raw) })
}

// TestEmbedCallErrors: the answers the api package's client turns into errors give the same
// errors here.
func TestEmbedCallErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{404, `{"error":"model \"x\" not found, try pulling it first"}`},
		{500, `not json`},
		{503, ``},
		{401, `{"signin_url":"https://example.test/signin"}`},
		{200, `{"embeddings":[[1,2]],"model":`},
		{200, `{"Embeddings":[[1,2]]}`},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := New(srv.URL, Options{})
			if err != nil {
				t.Fatal(err)
			}
			req := &api.EmbedRequest{Model: "x", Input: []string{"a"}}
			got, gotErr := c.embedCall(t.Context(), req)
			want, wantErr := c.api.Embed(t.Context(), req)
			if fmt.Sprintf("%#v", gotErr) != fmt.Sprintf("%#v", wantErr) {
				t.Fatalf("error %#v, the api client's %#v", gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("answer %#v, the api client's %#v", got, want)
			}
		})
	}
}

// BenchmarkEmbedDecode: one query's answer (768 dimensions) decoded by the fast path and by
// encoding/json.
func BenchmarkEmbedDecode(b *testing.B) {
	raw := ollamaEmbedAnswer(1, 768, 7)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var r api.EmbedResponse
			if !parseEmbedResponse(raw, &r) {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var r api.EmbedResponse
			if err := json.Unmarshal(raw, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
