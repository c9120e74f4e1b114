package bridge

import "github.com/eclipse/paho.mqtt.golang/packets"

// noStore is a paho client store that keeps nothing, so the client resends
// nothing after a reconnect. The bridge does not need it to: it publishes
// every retained topic again on each connection, and events are
// best-effort. Without it, paho re-sends from its store in a goroutine that
// races with publishes made right after the connection comes up (a data
// race the race detector reports in paho's resume, and duplicate messages).
// The broker still keeps our session (subscriptions and queued commands):
// that is the clean-session flag, not this store.
type noStore struct{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}
