package pixelfont

import (
	_ "embed"
	"sync"
)

//go:embed misc-fixed-4x6.bdf
var smallBDF string

//go:embed misc-fixed-6x10.bdf
var largeBDF string

// small and large parse the embedded fonts on first use. The data is fixed
// at build time and a test parses it, so the panic in mustParse cannot be
// reached by a build that passed its tests.
var (
	small = sync.OnceValue(func() *Font { return mustParse("misc-fixed 4x6", smallBDF) })
	large = sync.OnceValue(func() *Font { return mustParse("misc-fixed 6x10", largeBDF) })
)

// Small is misc-fixed 4x6: 6-pixel lines with a 4-pixel advance, for
// 8-pixel-high displays such as AWTRIX (8 characters on 32 pixels).
func Small() *Font { return small() }

// Large is misc-fixed 6x10: 10-pixel lines with a 6-pixel advance, for
// 64x64 displays such as the Pixoo 64 (10 characters and 6 lines).
func Large() *Font { return large() }

// mustParse parses embedded font data, which a test guarantees to be
// valid.
func mustParse(name, data string) *Font {
	f, err := parseBDF(name, data)
	if err != nil {
		panic("pixelfont: embedded " + name + ": " + err.Error())
	}
	return f
}
