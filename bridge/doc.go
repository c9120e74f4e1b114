// Package bridge puts devices on MQTT: it connects to the broker (the
// embedded one of package broker, or an external one) with one paho
// client, publishes each device's state retained, turns set topics into
// commands, reports rejected input and faults on <base>/bridge/event, and
// restores state at start-up (newest of file and broker wins).
//
// It is the only package of the daemon that imports the MQTT client
// library (paho); the embedded broker's library (mochi) is package
// broker's.
package bridge
