#!/usr/bin/env bash
# Produces the BDF files of this package from the misc-fixed PCF files in
# Debian's xfonts-base (converted with pcf2bdf), keeping only the glyphs of
# U+0020–U+007E, U+00A0–U+017F (Latin-1 Supplement and Latin Extended-A),
# U+2010–U+2026 (dashes, quotes, bullet, ellipsis) and U+20AC (euro sign).
# DEFAULT_CHAR is dropped with glyph 0 that it names: the package draws a
# box for a rune the font lacks. Everything else is kept as converted.
#
# Needs: apt-get install xfonts-base pcf2bdf
# Run from anywhere: bash device/pixelfont/mkbdf.sh
set -euo pipefail
cd "$(dirname "$0")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for cell in 4x6 6x10; do
  zcat "/usr/share/fonts/X11/misc/$cell.pcf.gz" >"$tmp/$cell.pcf"
  pcf2bdf -o "$tmp/$cell.bdf" "$tmp/$cell.pcf"
  awk '
    function kept(e) {
      return (e >= 32 && e <= 126) || (e >= 160 && e <= 383) ||
             (e >= 8208 && e <= 8230) || e == 8364
    }
    # First pass: count the glyphs kept.
    FNR == NR {
      if ($1 == "ENCODING" && kept($2 + 0)) n++
      next
    }
    # Second pass: header with CHARS and STARTPROPERTIES adjusted, then the
    # kept glyphs, then ENDFONT.
    $1 == "STARTPROPERTIES" { print "STARTPROPERTIES", $2 - 1; next }
    $1 == "DEFAULT_CHAR" { next }
    $1 == "CHARS" { print "CHARS", n; next }
    $1 == "STARTCHAR" { inchar = 1; glyph = $0; next }
    inchar {
      glyph = glyph "\n" $0
      if ($1 == "ENCODING") keep = kept($2 + 0)
      if ($1 == "ENDCHAR") { if (keep) print glyph; inchar = 0; keep = 0 }
      next
    }
    $0 == "" { next }
    { print }
  ' "$tmp/$cell.bdf" "$tmp/$cell.bdf" >"misc-fixed-$cell.bdf"
done
