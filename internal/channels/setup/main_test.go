package setup

import (
	"testing"

	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
