package analysis

import "testing"

func BenchmarkDetectQuery(b *testing.B) {
	for range b.N {
		DetectQuery("When should I stop drinking caffeine?", []Lang{English})
	}
}

func BenchmarkTerms(b *testing.B) {
	for range b.N {
		Terms(English, "When should I stop drinking caffeine?")
	}
}
