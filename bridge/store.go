package bridge

import (
	"sync"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// resendStore is the paho client's store of unacknowledged packets, kept
// in memory so that paho resends them after a reconnect (which completes
// their tokens: the publisher's window of messages in flight drains). It
// differs from paho's memory store in one way: Get returns a copy of a
// stored PUBLISH. paho's resume marks the packet it gets as a duplicate
// while, right after a reconnect, the same packet object may be being
// written by a publish made since: a data race the race detector reports
// with paho's own store.
type resendStore struct {
	mu      sync.Mutex
	packets map[string]packets.ControlPacket
}

func newResendStore() *resendStore {
	return &resendStore{packets: make(map[string]packets.ControlPacket)}
}

func (s *resendStore) Open() {}

func (s *resendStore) Close() {}

func (s *resendStore) Put(key string, p packets.ControlPacket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packets[key] = p
}

func (s *resendStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.packets[key]
	if pub, ok := p.(*packets.PublishPacket); ok {
		cp := *pub
		return &cp
	}
	return p
}

func (s *resendStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.packets))
	for k := range s.packets {
		keys = append(keys, k)
	}
	return keys
}

func (s *resendStore) Del(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.packets, key)
}

func (s *resendStore) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.packets)
}
