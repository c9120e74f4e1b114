package bridge_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every test leaves no goroutine behind: the bridge,
// its controllers, the embedded broker and the clients all stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
