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

func BenchmarkLoadLexicon(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		loadLexicon()
	}
}

func BenchmarkTranslateQuestion(b *testing.B) {
	LoadLexicon()
	words := Words("¿Cuántas horas de sueño necesita un adulto?")
	b.ResetTimer()
	for range b.N {
		for _, w := range words {
			Translate(Spanish, English, w)
			Cognate(Spanish, w)
		}
	}
}
