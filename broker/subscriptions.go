package broker

import (
	"maps"
	"slices"
)

// Subscriptions lists the topic filters the client with this id holds,
// sorted (none for a client the broker does not know): what tests and
// diagnostics ask of the broker's own session state.
func (b *Broker) Subscriptions(clientID string) []string {
	cl, ok := b.server.Clients.Get(clientID)
	if !ok {
		return nil
	}
	return slices.Sorted(maps.Keys(cl.State.Subscriptions.GetAll()))
}
