package httpdevice

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadCapped(t *testing.T) {
	const limit = 10
	for _, tt := range []struct {
		name, in string
		buf      []byte
		want     string
		err      error
	}{
		{"Empty", "", nil, "", nil},
		{"Short", "OK", nil, "OK", nil},
		{"AtLimit", strings.Repeat("x", limit), nil, strings.Repeat("x", limit), nil},
		{"OverLimit", strings.Repeat("x", limit+1), nil, "", errTooLong},
		{"ReusedBuffer", "OK", make([]byte, 0, 1), "OK", nil},
		{"LargeBuffer", "OK", make([]byte, 0, 100), "OK", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readCapped(tt.buf, iotest.OneByteReader(strings.NewReader(tt.in)), limit)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("read %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("ReadError", func(t *testing.T) {
		if _, err := readCapped(nil, iotest.ErrReader(io.ErrUnexpectedEOF), limit); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("error %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("NoAllocs", func(t *testing.T) {
		buf := make([]byte, 0, limit+1)
		r := strings.NewReader("0123456789")
		allocs := testing.AllocsPerRun(100, func() {
			r.Reset("0123456789")
			buf, _ = readCapped(buf[:0], r, limit)
		})
		if allocs != 0 {
			t.Errorf("readCapped into a large enough buffer allocates %v times, want 0", allocs)
		}
	})
}
