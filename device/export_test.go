package device

import "image/png"

// PreviewEncoder gives the external tests the controller's PNG encoder.
func PreviewEncoder() *png.Encoder {
	e := newPreviewEncoder()
	return &e
}
