package font

import (
	"strings"
	"testing"
)

func TestArt(t *testing.T) {
	seen := map[Glyph]byte{}
	for i, rows := range art {
		ch := byte(First + i)
		for r, row := range rows {
			if len(row) != Width || strings.Trim(row, ".#") != "" {
				t.Errorf("glyph %q row %d is %q: want %d of '.' or '#'", ch, r, row, Width)
			}
		}
		g := Of(ch)
		if (g == Glyph{}) != (ch == ' ') {
			t.Errorf("glyph %q: only the space may be blank", ch)
		}
		if prev, ok := seen[g]; ok {
			t.Errorf("glyphs %q and %q are identical", prev, ch)
		}
		seen[g] = ch
	}
}

func TestOf(t *testing.T) {
	if got := Of('I'); got != (Glyph{0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}) {
		t.Errorf("I = %x", got)
	}
	for _, c := range []byte{0, '\n', First - 1, Last + 1, 0xe9, 0xff} {
		if Of(c) != Of('?') {
			t.Errorf("%#x does not draw as '?'", c)
		}
	}
	if g := Of('L'); !g.Ink(0, 0) || g.Ink(1, 0) || !g.Ink(4, 6) || g.Ink(5, 6) || g.Ink(0, 7) || g.Ink(-1, 0) {
		t.Error("Ink of L: want the left column and the bottom row, nothing outside the glyph")
	}
}

// The glyphs that once differed between the CPU and the GPU copies of the font.
func TestQuoteAndDescenders(t *testing.T) {
	// '"' is two strokes, in columns 1 and 3, as tall as the apostrophe (rows 0–2).
	if got := Of('"'); got != (Glyph{0x0a, 0x0a, 0x0a}) {
		t.Errorf(`'"' = %x, want two 3-row strokes`, got)
	}
	if ap := Of('\''); ap[2] == 0 || ap[3] != 0 {
		t.Errorf("the apostrophe %x is not 3 rows tall", ap)
	}
	p, q, g := Of('p'), Of('q'), Of('g')
	// p: stem on the left through the descender rows 5–6, bowl closed in rows 1–4.
	if p[5] != 0x10 || p[6] != 0x10 || p != (Glyph{0, 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10}) {
		t.Errorf("p = %x: want a bowl in rows 1–4 and the stem alone in rows 5–6 on the left", p)
	}
	// q: the mirror image of p, its stem on the right.
	for r := range Height {
		var mirrored uint8
		for c := range Width {
			if p.Ink(c, r) {
				mirrored |= 1 << c
			}
		}
		if q[r] != mirrored {
			t.Errorf("q row %d = %05b, want p's mirrored %05b", r, q[r], mirrored)
		}
	}
	// p, q and g rise alike: nothing in row 0, bowl from row 1.
	for _, c := range []byte{'p', 'q', 'g'} {
		if gl := Of(c); gl[0] != 0 || gl[1] == 0 {
			t.Errorf("%q: want the top of its bowl in row 1, like g (%x)", c, g)
		}
	}
}
