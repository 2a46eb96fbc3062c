package overlay

// Palette holds the class colours as RGB, shared with the GPU drawing kernel so both modes look
// alike: 16 hues spread around the colour wheel, ordered so that neighbouring class IDs differ
// strongly.
var Palette = [][3]uint8{
	{255, 51, 51},
	{110, 255, 89},
	{43, 87, 217},
	{255, 89, 151},
	{153, 255, 51},
	{76, 164, 217},
	{255, 51, 204},
	{234, 255, 89},
	{43, 217, 217},
	{234, 89, 255},
	{255, 204, 51},
	{76, 217, 164},
	{153, 51, 255},
	{255, 151, 89},
	{43, 217, 87},
	{110, 89, 255},
}

// ColorFor returns the RGB colour of a class: Palette[classID mod len(Palette)], with negative
// IDs folded onto the palette too.
func ColorFor(classID int) [3]uint8 {
	n := len(Palette)
	if n == 0 {
		return [3]uint8{255, 255, 255}
	}
	i := classID % n
	if i < 0 {
		i += n
	}
	return Palette[i]
}

// RGBToYCbCr converts an RGB colour to limited-range ("video", Y 16–235, Cb/Cr 16–240) BT.601
// YCbCr, the encoding of the decoded frames, with the integer formula
//
//	Y  = ((  66 R + 129 G +  25 B + 128) >> 8) +  16
//	Cb = (( -38 R -  74 G + 112 B + 128) >> 8) + 128
//	Cr = (( 112 R -  94 G -  18 B + 128) >> 8) + 128
//
// which the GPU kernel uses as well.
func RGBToYCbCr(c [3]uint8) (y, cb, cr uint8) {
	r, g, b := int32(c[0]), int32(c[1]), int32(c[2])
	return uint8(((66*r + 129*g + 25*b + 128) >> 8) + 16),
		uint8(((-38*r - 74*g + 112*b + 128) >> 8) + 128),
		uint8(((112*r - 94*g - 18*b + 128) >> 8) + 128)
}

// TextColor is the label text's colour on a bar of colour c: black on light colours, white on
// dark ones, as limited-range luma.
func TextColor(c [3]uint8) uint8 {
	if 299*int(c[0])+587*int(c[1])+114*int(c[2]) >= 128*1000 {
		return 16
	}
	return 235
}
