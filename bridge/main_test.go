package bridge_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// rabbit is one RabbitMQ node for every test that needs one: it takes
// seconds to start. The first such test starts it; TestMain stops it.
var rabbit mqtttest.SharedRabbitMQ

// TestMain checks that every test leaves no goroutine behind: the bridge,
// its controllers, the embedded broker and the clients all stop.
func TestMain(m *testing.M) {
	code := m.Run()
	rabbit.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left behind: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
