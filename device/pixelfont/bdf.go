package pixelfont

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxCell bounds every size in a BDF file: glyph bitmaps, offsets, advances
// and the font's ascent and descent. A glyph row is one uint64, so 64 is
// also the widest bitmap that can be held.
const maxCell = 64

// parseBDF reads a BDF font (version 2.x) and keeps what drawing needs:
// FONTBOUNDINGBOX, FONT_ASCENT and FONT_DESCENT, and per glyph ENCODING,
// DWIDTH, BBX and BITMAP. Other lines are skipped. Glyphs without an
// encoding (ENCODING -1) are skipped too. Sizes beyond maxCell, a rune given
// twice, a CHARS count that differs from the glyphs found and a missing
// ENDFONT are refused, so that a truncated or hostile file is an error, and
// memory stays proportional to the input.
func parseBDF(name, data string) (*Font, error) {
	p := bdfParser{rest: data}
	f := &Font{name: name, others: make(map[rune]*glyph)}

	if err := p.header(f); err != nil {
		return nil, err
	}
	count := 0
	for {
		fields, err := p.next()
		if err != nil {
			return nil, err
		}
		switch fields[0] {
		case "STARTCHAR":
			if err := p.glyph(f); err != nil {
				return nil, fmt.Errorf("glyph %d: %w", count+1, err)
			}
			count++
		case "ENDFONT":
			if count != p.chars {
				return nil, fmt.Errorf("CHARS says %d glyphs, found %d", p.chars, count)
			}
			if count == 0 {
				return nil, errors.New("no glyphs")
			}
			return f, nil
		}
	}
}

// bdfParser walks the lines of a BDF file.
type bdfParser struct {
	rest string
	line int
	// fields is reused for every line; only the current line is needed.
	fields []string
	// chars is the glyph count announced by CHARS.
	chars int
}

// next returns the fields of the next line that has any, skipping COMMENT
// lines. Running out of input is an error: a complete file ends in ENDFONT.
func (p *bdfParser) next() ([]string, error) {
	for len(p.rest) > 0 {
		var line string
		line, p.rest, _ = strings.Cut(p.rest, "\n")
		p.line++
		p.fields = appendFields(p.fields[:0], line)
		if len(p.fields) == 0 || p.fields[0] == "COMMENT" {
			continue
		}
		return p.fields, nil
	}
	return nil, fmt.Errorf("line %d: unexpected end of file", p.line)
}

// appendFields splits line at spaces, tabs and a trailing carriage return.
func appendFields(dst []string, line string) []string {
	start := -1
	for i := 0; i < len(line); i++ {
		b := line[i]
		blank := b == ' ' || b == '\t' || b == '\r'
		switch {
		case blank && start >= 0:
			dst = append(dst, line[start:i])
			start = -1
		case !blank && start < 0:
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, line[start:])
	}
	return dst
}

// header reads from STARTFONT up to CHARS.
func (p *bdfParser) header(f *Font) error {
	fields, err := p.next()
	if err != nil {
		return err
	}
	if fields[0] != "STARTFONT" {
		return fmt.Errorf("line %d: not a BDF file (no STARTFONT)", p.line)
	}
	var box [4]int
	haveBox, haveAscent, haveDescent := false, false, false
	for {
		fields, err := p.next()
		if err != nil {
			return err
		}
		switch fields[0] {
		case "FONTBOUNDINGBOX":
			if err := p.ints(fields, box[:]); err != nil {
				return err
			}
			if box[0] < 1 || box[0] > maxCell || box[1] < 1 || box[1] > maxCell ||
				!inCell(box[2]) || !inCell(box[3]) {
				return fmt.Errorf("line %d: FONTBOUNDINGBOX out of range", p.line)
			}
			haveBox = true
		case "FONT_ASCENT":
			if f.ascent, err = p.size(fields); err != nil {
				return err
			}
			haveAscent = true
		case "FONT_DESCENT":
			if f.descent, err = p.size(fields); err != nil {
				return err
			}
			haveDescent = true
		case "CHARS":
			var chars [1]int
			if err := p.ints(fields, chars[:]); err != nil {
				return err
			}
			if chars[0] < 0 {
				return fmt.Errorf("line %d: CHARS is negative", p.line)
			}
			p.chars = chars[0]
			if !haveBox {
				return fmt.Errorf("line %d: CHARS before FONTBOUNDINGBOX", p.line)
			}
			f.cellWidth = box[0]
			if !haveAscent {
				f.ascent = max(box[1]+box[3], 0)
			}
			if !haveDescent {
				f.descent = max(-box[3], 0)
			}
			if f.Height() < 1 {
				return errors.New("line height is zero")
			}
			return nil
		}
	}
}

// glyph reads one glyph after STARTCHAR up to ENDCHAR and adds it to f.
func (p *bdfParser) glyph(f *Font) error {
	var encoding int64
	haveEncoding := false
	var dwidth, bbx [2]int
	var bbxOffset [2]int
	haveDWidth, haveBBX := false, false
	for {
		fields, err := p.next()
		if err != nil {
			return err
		}
		switch fields[0] {
		case "ENCODING":
			if len(fields) < 2 {
				return fmt.Errorf("line %d: ENCODING without a value", p.line)
			}
			if encoding, err = strconv.ParseInt(fields[1], 10, 32); err != nil {
				return fmt.Errorf("line %d: ENCODING: %w", p.line, err)
			}
			if encoding != -1 && (encoding < 0 || !utf8.ValidRune(rune(encoding))) {
				return fmt.Errorf("line %d: ENCODING %d is not a Unicode code point", p.line, encoding)
			}
			haveEncoding = true
		case "DWIDTH":
			if err := p.ints(fields, dwidth[:]); err != nil {
				return err
			}
			if dwidth[0] < 0 || dwidth[0] > maxCell {
				return fmt.Errorf("line %d: DWIDTH out of range", p.line)
			}
			haveDWidth = true
		case "BBX":
			var v [4]int
			if err := p.ints(fields, v[:]); err != nil {
				return err
			}
			if v[0] < 0 || v[0] > maxCell || v[1] < 0 || v[1] > maxCell ||
				!inCell(v[2]) || !inCell(v[3]) {
				return fmt.Errorf("line %d: BBX out of range", p.line)
			}
			bbx, bbxOffset = [2]int{v[0], v[1]}, [2]int{v[2], v[3]}
			haveBBX = true
		case "BITMAP":
			if !haveEncoding {
				return fmt.Errorf("line %d: BITMAP before ENCODING", p.line)
			}
			if !haveBBX {
				return fmt.Errorf("line %d: BITMAP before BBX", p.line)
			}
			if !haveDWidth {
				return fmt.Errorf("line %d: BITMAP before DWIDTH", p.line)
			}
			g := glyph{
				present: true,
				advance: dwidth[0],
				left:    bbxOffset[0],
				top:     -(bbxOffset[1] + bbx[1]),
				width:   bbx[0],
			}
			if bbx[1] > 0 {
				g.rows = make([]uint64, bbx[1])
			}
			for i := range g.rows {
				if g.rows[i], err = p.bitmapRow(bbx[0]); err != nil {
					return err
				}
			}
			fields, err := p.next()
			if err != nil {
				return err
			}
			if fields[0] != "ENDCHAR" {
				return fmt.Errorf("line %d: want ENDCHAR after %d bitmap rows", p.line, bbx[1])
			}
			if err := f.add(encoding, g); err != nil {
				return fmt.Errorf("line %d: %w", p.line, err)
			}
			return nil
		case "ENDCHAR":
			return fmt.Errorf("line %d: glyph without BITMAP", p.line)
		case "STARTCHAR", "ENDFONT":
			return fmt.Errorf("line %d: glyph without ENDCHAR", p.line)
		}
	}
}

// bitmapRow reads one row of hexadecimal bitmap data for a glyph that is
// width pixels wide. The leftmost pixel ends up in the row's top bit; bits
// past width (padding) are cleared.
func (p *bdfParser) bitmapRow(width int) (uint64, error) {
	fields, err := p.next()
	if err != nil {
		return 0, err
	}
	if len(fields) != 1 {
		return 0, fmt.Errorf("line %d: bitmap row has %d fields, want 1", p.line, len(fields))
	}
	digits := fields[0]
	need := 2 * ((width + 7) / 8)
	if len(digits) < need || len(digits) > 16 || len(digits)%2 != 0 {
		return 0, fmt.Errorf("line %d: bitmap row %q does not fit width %d", p.line, digits, width)
	}
	row, err := strconv.ParseUint(digits, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("line %d: bitmap row: %w", p.line, err)
	}
	row <<= 64 - 4*uint(len(digits))
	if width == 0 {
		return 0, nil
	}
	return row &^ (^uint64(0) >> uint(width)), nil
}

// ints parses the len(dst) integers after the keyword in fields.
func (p *bdfParser) ints(fields []string, dst []int) error {
	if len(fields) != len(dst)+1 {
		return fmt.Errorf("line %d: %s wants %d numbers", p.line, fields[0], len(dst))
	}
	for i := range dst {
		v, err := strconv.ParseInt(fields[i+1], 10, 32)
		if err != nil {
			return fmt.Errorf("line %d: %s: %w", p.line, fields[0], err)
		}
		dst[i] = int(v)
	}
	return nil
}

// size parses the one number after the keyword in fields, which must lie
// in 0..maxCell.
func (p *bdfParser) size(fields []string) (int, error) {
	var v [1]int
	if err := p.ints(fields, v[:]); err != nil {
		return 0, err
	}
	if v[0] < 0 || v[0] > maxCell {
		return 0, fmt.Errorf("line %d: %s out of range", p.line, fields[0])
	}
	return v[0], nil
}

// inCell reports whether an offset lies within one cell either way.
func inCell(v int) bool { return v >= -maxCell && v <= maxCell }

// add stores g under encoding, a Unicode code point or -1 for an
// unencoded glyph, which is dropped.
func (f *Font) add(encoding int64, g glyph) error {
	if encoding == -1 {
		return nil
	}
	r := rune(encoding)
	if f.Has(r) {
		return fmt.Errorf("ENCODING %d given twice", encoding)
	}
	if r < rune(len(f.ascii)) {
		f.ascii[r] = g
	} else {
		f.others[r] = &g
	}
	return nil
}
