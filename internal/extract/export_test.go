package extract

import (
	"io"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	MainIfChild()
	os.Exit(m.Run())
}

// Formats that only the test binary knows, to exercise the child's failure
// modes without a hostile file for each.
const (
	testSpin  Format = "test-spin"
	testOOM   Format = "test-oom"
	testCrash Format = "test-crash"
	testPanic Format = "test-panic"
)

var sink [][]byte

func init() {
	extraExtractors = map[Format]extractor{
		testSpin: func(*state, io.ReaderAt, int64) (*Document, error) {
			for {
				time.Sleep(time.Millisecond)
			}
		},
		testOOM: func(*state, io.ReaderAt, int64) (*Document, error) {
			for {
				b := make([]byte, 16<<20)
				for i := range b {
					b[i] = 1
				}
				sink = append(sink, b)
			}
		},
		testCrash: func(*state, io.ReaderAt, int64) (*Document, error) {
			done := make(chan struct{})
			go func() {
				var m map[string]int
				//lint:ignore SA5000 the crash is the point: a parser goroutine dying on a nil map
				m["x"] = 1
				close(done)
			}()
			<-done
			return nil, nil
		},
		testPanic: func(*state, io.ReaderAt, int64) (*Document, error) {
			panic("parser bug")
		},
	}
}
