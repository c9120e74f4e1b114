package bridge

import (
	"cmp"
	"slices"
	"sync"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// resendStore is the paho client's store of unacknowledged packets, kept
// in memory so that paho resends them after a reconnect (which completes
// their tokens: the publisher's window of messages in flight drains). It
// differs from paho's memory store in one way: it keeps its own copy of a
// PUBLISH, taken when paho stores it (before paho writes it out), and hands
// out copies. paho's resume marks the packet it gets as a duplicate, and
// paho's writer sets fields of a packet as it writes it; with paho's own
// store both work on one object when a publish made right after a
// reconnect is also resumed: a data race the race detector reports.
//
// All lists the packets in the order they were stored, so that paho resends
// two changes of one topic in their order (paho's memory store lists them in
// map order).
type resendStore struct {
	mu      sync.Mutex
	packets map[string]stored
	seq     uint64
}

// stored is a packet and when it was stored, as a sequence number.
type stored struct {
	seq    uint64
	packet packets.ControlPacket
}

func newResendStore() *resendStore {
	return &resendStore{packets: make(map[string]stored)}
}

func (s *resendStore) Open() {}

func (s *resendStore) Close() {}

func (s *resendStore) Put(key string, p packets.ControlPacket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.packets[key] = stored{s.seq, copyPublish(p)}
}

func (s *resendStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyPublish(s.packets[key].packet)
}

// copyPublish returns a copy of a PUBLISH (its payload is never written,
// so it is shared) and any other packet as it is.
func copyPublish(p packets.ControlPacket) packets.ControlPacket {
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
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(s.packets[a].seq, s.packets[b].seq) })
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
