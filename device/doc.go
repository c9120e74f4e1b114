// Package device drives pixel displays: the Driver interface that Pixoo 64,
// AWTRIX and simulated displays implement (in sub-packages), and the
// Controller, one goroutine per display that owns its driver, converges the
// hardware to the desired state and runs the active scene's render loop.
package device
