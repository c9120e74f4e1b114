// Package bridge puts devices on MQTT: it runs the embedded broker when no
// external one is configured (with logins, TLS and WebSocket listeners, and
// a policy that lets only the daemon publish its state), connects with one paho client in both cases,
// publishes each device's state retained, turns set topics into commands,
// reports rejected input and faults on <base>/bridge/event, and restores
// state at start-up (newest of file and broker wins).
//
// It is the only package that imports the MQTT libraries.
package bridge
