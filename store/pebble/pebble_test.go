package pebble_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
	"github.com/choreohq/choreo/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{Open: openStore, Durable: true})
}

func openStore(_ testing.TB, dir string, opts store.Options) (store.Store, error) {
	return pebble.Open(dir, &pebble.Options{Options: opts})
}
