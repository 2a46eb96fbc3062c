package cuda

import (
	"fmt"
	"strings"

	"github.com/gstvision/gstvision/overlay/font"
)

// fontSource is the label font for the kernels, generated from package font (the table the
// CPU drawer reads too): its size as #defines and its glyphs as a __constant__ array gv_font,
// one row of font.Height bit rows per character from font.First to font.Last.
func fontSource() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#define FONT_W %d\n#define FONT_H %d\n#define FONT_ADVANCE %d\n#define FONT_FIRST %d\n#define FONT_LAST %d\n",
		font.Width, font.Height, font.Advance, font.First, font.Last)
	fmt.Fprintf(&b, "__constant__ unsigned char gv_font[%d][%d] = {\n", font.Count, font.Height)
	for c := byte(font.First); c <= font.Last; c++ {
		b.WriteString("  {")
		for r, v := range font.Of(c) {
			if r > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "0x%02x", v)
		}
		b.WriteString("},\n")
	}
	b.WriteString("};\n")
	return b.String()
}
