package picture

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// ParseDataURL returns the file a data: URL holds, as a notification
// carries it: "data:image/png;base64,iVBORw0...", at most MaxDataURL bytes
// long (else ErrTooLarge). The media type must be image/* and the data
// base64 (standard alphabet, padding optional, line breaks ignored), and
// the file a PNG, GIF or JPEG (else ErrNotImage); Decode reads it.
func ParseDataURL(s string) ([]byte, error) {
	if len(s) > MaxDataURL {
		return nil, fmt.Errorf("%w: data URL of %d bytes, more than %d", ErrTooLarge, len(s), MaxDataURL)
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || !strings.EqualFold(scheme, "data") {
		return nil, fmt.Errorf("%w: not a data: URL", ErrNotImage)
	}
	header, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("%w: data URL without a comma", ErrNotImage)
	}
	params := strings.Split(header, ";")
	mediaType := strings.TrimSpace(params[0])
	if len(mediaType) < len("image/") || !strings.EqualFold(mediaType[:len("image/")], "image/") {
		return nil, fmt.Errorf("%w: data URL of type %q, want image/*", ErrNotImage, mediaType)
	}
	if len(params) < 2 || !strings.EqualFold(strings.TrimSpace(params[len(params)-1]), "base64") {
		return nil, fmt.Errorf("%w: data URL not in base64", ErrNotImage)
	}
	enc := base64.StdEncoding
	if !strings.HasSuffix(strings.TrimRight(payload, "\r\n"), "=") {
		enc = base64.RawStdEncoding
	}
	data, err := enc.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: data URL: bad base64: %w", ErrNotImage, err)
	}
	if _, ok := sniff(data); !ok {
		return nil, notImage(data)
	}
	return data, nil
}
