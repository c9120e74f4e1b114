package pixelfont

import (
	"fmt"
	"strings"
	"testing"
)

// TestEmbeddedFontsParse guarantees that the panic in mustParse cannot be
// reached: both embedded files parse, with every glyph they announce.
func TestEmbeddedFontsParse(t *testing.T) {
	for name, data := range map[string]string{"small": smallBDF, "large": largeBDF} {
		f, err := parseBDF(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		count := len(f.others)
		for _, g := range f.ascii {
			if g.present {
				count++
			}
		}
		if count != 343 {
			t.Errorf("%s: %d glyphs, want the 343 that mkbdf.sh keeps", name, count)
		}
	}
}

// minimalBDF has two glyphs: 'A', 3 pixels wide and 2 high standing on
// the baseline one pixel right of the pen, and an unencoded glyph.
const minimalBDF = `STARTFONT 2.1
COMMENT a comment
FONT test
FONTBOUNDINGBOX 4 5 0 -1
STARTPROPERTIES 2
FONT_ASCENT 4
FONT_DESCENT 1
ENDPROPERTIES
CHARS 2
STARTCHAR A
ENCODING 65
SWIDTH 500 0
DWIDTH 4 0
BBX 3 2 1 0
BITMAP
A0
FF
ENDCHAR
STARTCHAR unencoded
ENCODING -1 7
DWIDTH 4 0
BBX 0 0 0 0
BITMAP
ENDCHAR
ENDFONT
`

func TestParseBDF(t *testing.T) {
	for name, data := range map[string]string{
		"LF":   minimalBDF,
		"CRLF": strings.ReplaceAll(minimalBDF, "\n", "\r\n"),
	} {
		f, err := parseBDF("test", data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Name() != "test" || f.Ascent() != 4 || f.Height() != 5 || f.cellWidth != 4 {
			t.Errorf("%s: metrics %q %d %d %d", name, f.Name(), f.Ascent(), f.Height(), f.cellWidth)
		}
		g := f.lookup('A')
		if g == nil {
			t.Fatalf("%s: no 'A'", name)
		}
		// Padding bits past the width of 3 are dropped: FF keeps 3 bits.
		want := glyph{present: true, advance: 4, left: 1, top: -2, width: 3, rows: []uint64{0b101 << 61, 0b111 << 61}}
		if g.advance != want.advance || g.left != want.left || g.top != want.top || g.width != want.width ||
			len(g.rows) != 2 || g.rows[0] != want.rows[0] || g.rows[1] != want.rows[1] {
			t.Errorf("%s: 'A' is %+v, want %+v", name, *g, want)
		}
		if len(f.others) != 0 {
			t.Errorf("%s: the unencoded glyph was kept", name)
		}
	}
}

func TestParseBDFAscentFromBoundingBox(t *testing.T) {
	data := strings.Replace(minimalBDF, "FONT_ASCENT 4\nFONT_DESCENT 1\n", "", 1)
	f, err := parseBDF("test", data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Ascent() != 4 || f.Height() != 5 {
		t.Errorf("ascent %d, height %d; want 4 and 5 from FONTBOUNDINGBOX 4 5 0 -1", f.Ascent(), f.Height())
	}
}

func TestParseBDFRefuses(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(minimalBDF, old) {
			t.Fatalf("minimalBDF has no %q", old)
		}
		return strings.Replace(minimalBDF, old, new, 1)
	}
	for name, data := range map[string]string{
		"empty":                     "",
		"no STARTFONT":              replace("STARTFONT 2.1", "STARTTHING 2.1"),
		"no ENDFONT":                replace("ENDFONT\n", ""),
		"CHARS too high":            replace("CHARS 2", "CHARS 3"),
		"CHARS too low":             replace("CHARS 2", "CHARS 1"),
		"CHARS negative":            replace("CHARS 2", "CHARS -2"),
		"CHARS missing":             replace("CHARS 2\n", ""),
		"CHARS before bounding box": replace("FONTBOUNDINGBOX 4 5 0 -1\n", "") + "",
		"bounding box too wide":     replace("FONTBOUNDINGBOX 4 5", "FONTBOUNDINGBOX 65 5"),
		"bounding box empty":        replace("FONTBOUNDINGBOX 4 5", "FONTBOUNDINGBOX 0 5"),
		"bounding box short":        replace("FONTBOUNDINGBOX 4 5 0 -1", "FONTBOUNDINGBOX 4 5 0"),
		"bounding box offset":       replace("FONTBOUNDINGBOX 4 5 0 -1", "FONTBOUNDINGBOX 4 5 0 -100"),
		"ascent too large":          replace("FONT_ASCENT 4", "FONT_ASCENT 65"),
		"descent negative":          replace("FONT_DESCENT 1", "FONT_DESCENT -1"),
		"zero line height":          replace("FONT_ASCENT 4\nFONT_DESCENT 1", "FONT_ASCENT 0\nFONT_DESCENT 0"),
		"BBX too wide":              replace("BBX 3 2 1 0", "BBX 65 2 1 0"),
		"BBX too high":              replace("BBX 3 2 1 0", "BBX 3 65 1 0"),
		"BBX negative":              replace("BBX 3 2 1 0", "BBX -3 2 1 0"),
		"BBX huge":                  replace("BBX 3 2 1 0", "BBX 3 99999999999 1 0"),
		"BBX offset":                replace("BBX 3 2 1 0", "BBX 3 2 1 1000"),
		"DWIDTH too large":          replace("DWIDTH 4 0\nBBX 3", "DWIDTH 65 0\nBBX 3"),
		"DWIDTH negative":           replace("DWIDTH 4 0\nBBX 3", "DWIDTH -1 0\nBBX 3"),
		"no DWIDTH":                 replace("DWIDTH 4 0\nBBX 3", "BBX 3"),
		"no BBX":                    replace("BBX 3 2 1 0\n", ""),
		"no ENCODING":               replace("ENCODING 65\n", ""),
		"ENCODING not a number":     replace("ENCODING 65", "ENCODING A"),
		"ENCODING empty":            replace("ENCODING 65", "ENCODING"),
		"ENCODING beyond Unicode":   replace("ENCODING 65", "ENCODING 1114112"),
		"ENCODING surrogate":        replace("ENCODING 65", "ENCODING 55296"),
		"ENCODING negative":         replace("ENCODING 65", "ENCODING -2"),
		"ENCODING twice":            replace("ENCODING -1 7", "ENCODING 65"),
		"no BITMAP":                 replace("BITMAP\nA0\nFF\n", ""),
		"bitmap row missing":        replace("A0\nFF\n", "A0\n"),
		"bitmap row extra":          replace("A0\nFF\n", "A0\nFF\nFF\n"),
		"bitmap row not hex":        replace("A0\nFF\n", "A0\nXY\n"),
		"bitmap row odd":            replace("A0\nFF\n", "A0\nF\n"),
		"bitmap row too long":       replace("A0\nFF\n", "A0\nFF00FF00FF00FF00FF\n"),
		"bitmap row two fields":     replace("A0\nFF\n", "A0\nFF 00\n"),
		"no ENDCHAR":                replace("FF\nENDCHAR\n", "FF\n"),
		"STARTCHAR inside a glyph":  replace("SWIDTH 500 0\n", "STARTCHAR B\n"),
		"ENDFONT inside a glyph":    replace("SWIDTH 500 0\n", "ENDFONT\n"),
		"no glyphs":                 "STARTFONT 2.1\nFONTBOUNDINGBOX 4 5 0 -1\nCHARS 0\nENDFONT\n",
	} {
		if f, err := parseBDF("test", data); err == nil {
			t.Errorf("%s: parsed into %+v", name, f)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestParseBDFTruncated cuts an embedded font after every line but the
// last: each cut must be refused, so a truncated file cannot ship.
func TestParseBDFTruncated(t *testing.T) {
	for end := strings.IndexByte(smallBDF, '\n'); end >= 0; {
		prefix := smallBDF[:end+1]
		if strings.TrimSpace(smallBDF[end+1:]) == "" {
			break
		}
		if _, err := parseBDF("small", prefix); err == nil {
			t.Fatalf("the first %d bytes parsed", len(prefix))
		}
		next := strings.IndexByte(smallBDF[end+1:], '\n')
		if next < 0 {
			break
		}
		end += 1 + next
	}
}

func FuzzParseBDF(f *testing.F) {
	f.Add(minimalBDF)
	f.Add(strings.ReplaceAll(minimalBDF, "\n", "\r\n"))
	// Whole embedded fonts would make seeds too large to mutate and
	// minimize quickly; their first glyphs carry the same structure.
	f.Add(firstGlyphs(f, smallBDF, 3))
	f.Add(firstGlyphs(f, largeBDF, 3))
	f.Fuzz(func(t *testing.T, data string) {
		font, err := parseBDF("fuzz", data)
		if err != nil {
			return
		}
		if font.Height() < 1 || font.Height() > 2*maxCell || font.cellWidth < 1 || font.cellWidth > maxCell {
			t.Fatalf("metrics out of range: height %d, cell width %d", font.Height(), font.cellWidth)
		}
		check := func(r rune, g *glyph) {
			if len(g.rows) > maxCell || g.width > maxCell || g.advance > maxCell || !inCell(g.left) || !inCell(g.top+len(g.rows)) {
				t.Fatalf("glyph %U out of range: %+v", r, *g)
			}
		}
		for r := range font.ascii {
			if g := &font.ascii[r]; g.present {
				check(rune(r), g)
			}
		}
		for r, g := range font.others {
			check(r, g)
		}
	})
}

// firstGlyphs shortens a BDF file to its first n glyphs.
func firstGlyphs(t testing.TB, data string, n int) string {
	t.Helper()
	header, body, ok := strings.Cut(data, "\nCHARS ")
	if !ok {
		t.Fatal("no CHARS")
	}
	_, body, _ = strings.Cut(body, "\n")
	end := 0
	for range n {
		i := strings.Index(body[end:], "ENDCHAR\n")
		if i < 0 {
			t.Fatalf("fewer than %d glyphs", n)
		}
		end += i + len("ENDCHAR\n")
	}
	short := fmt.Sprintf("%s\nCHARS %d\n%sENDFONT\n", header, n, body[:end])
	if _, err := parseBDF("short", short); err != nil {
		t.Fatalf("first %d glyphs: %v", n, err)
	}
	return short
}
