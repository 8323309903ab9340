package mem_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
	"github.com/choreohq/choreo/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		Open: func(_ testing.TB, _ string, opts store.Options) (store.Store, error) { return mem.New(opts), nil },
	})
}
