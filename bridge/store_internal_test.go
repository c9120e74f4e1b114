package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// TestResendStore_OrderAndCopies checks that the store lists packets in the
// order they were stored (so a resend keeps the order of two changes of one
// topic) and never hands out the object paho writes.
func TestResendStore_OrderAndCopies(t *testing.T) {
	s := newResendStore()
	var want []string
	var originals []*packets.PublishPacket
	for i := range 50 {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.TopicName, p.Qos, p.MessageID = "pidicon/demo/state", 1, uint16(1000-i)
		key := fmt.Sprintf("o.%d", p.MessageID)
		s.Put(key, p)
		want = append(want, key)
		originals = append(originals, p)
	}
	if got := s.All(); !slices.Equal(got, want) {
		t.Errorf("All() = %v, want the order of Put %v", got, want)
	}
	got := s.Get(want[0]).(*packets.PublishPacket)
	if got == originals[0] {
		t.Error("Get returned the stored object itself")
	}
	got.Dup = true
	if again := s.Get(want[0]).(*packets.PublishPacket); again.Dup {
		t.Error("a change to a packet from Get changed the store")
	}
	s.Del(want[0])
	if slices.Contains(s.All(), want[0]) {
		t.Error("Del kept the packet")
	}
}
