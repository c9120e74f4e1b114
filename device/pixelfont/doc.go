// Package pixelfont draws text into frames with two bitmap fonts:
//
//   - Small, misc-fixed 4x6: 6-pixel lines, 4-pixel advance, for 8-pixel-high
//     displays such as AWTRIX (32x8: 8 characters on a line).
//   - Large, misc-fixed 6x10: 10-pixel lines, 6-pixel advance, for 64x64
//     displays such as the Pixoo 64 (10 characters on a line, 6 lines).
//
// Both are the X.Org misc-fixed fonts in their ISO 10646 versions
// (-Misc-Fixed-Medium-R-Normal--6-60-75-75-C-40-ISO10646-1 and
// -Misc-Fixed-Medium-R-Normal--10-100-75-75-C-60-ISO10646-1), which are in
// the public domain ("Public domain font. Share and enjoy."; see
// misc-fixed.LICENSE). The files misc-fixed-4x6.bdf and misc-fixed-6x10.bdf
// were converted from the PCF files in Debian's xfonts-base 1:1.0.5+nmu1
// with pcf2bdf 1.07 and trimmed by mkbdf.sh, which keeps the glyphs of
// U+0020–U+007E, U+00A0–U+017F (Latin-1 Supplement, Latin Extended-A),
// U+2010–U+2026 (dashes, quotation marks, bullet, ellipsis) and U+20AC (€)
// and drops the rest, the font's default glyph with them. Running mkbdf.sh
// again reproduces both files.
//
// The files are embedded and parsed on first use by a small BDF reader of
// this package, which takes only what drawing needs and refuses glyphs
// larger than 64x64. A rune the font lacks is drawn as an outlined box, so
// that nothing is dropped without a trace.
package pixelfont
