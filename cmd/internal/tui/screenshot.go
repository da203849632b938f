package tui

import (
	"image"
	"image/color"
	"image/draw"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Cell size of the screenshot font (basicfont's 7x13).
const (
	CellWidth  = 7
	CellHeight = 13
)

// Screenshot renders a view (text with ANSI colour sequences) of cols x
// rows cells onto an image, scale times CellWidth x CellHeight per cell,
// for documentation and tests. It maps SGR colours (16, 256 and true
// colour, bold, reverse) and draws block characters itself; other runes
// outside ASCII become '?'.
func Screenshot(view string, cols, rows, scale int) *image.RGBA {
	scale = max(scale, 1)
	img := image.NewRGBA(image.Rect(0, 0, cols*CellWidth, rows*CellHeight))
	defBG, defFG := color.RGBA{0x1c, 0x1c, 0x1c, 0xff}, color.RGBA{0xd0, 0xd0, 0xd0, 0xff}
	draw.Draw(img, img.Bounds(), image.NewUniform(defBG), image.Point{}, draw.Src)
	for y, line := range strings.Split(view, "\n") {
		if y >= rows {
			break
		}
		sgr := sgrState{fg: defFG, bg: defBG}
		x := 0
		rs := []rune(line)
		for i := 0; i < len(rs) && x < cols; i++ {
			if rs[i] == 0x1b {
				i = sgr.parse(rs, i, defFG, defBG)
				continue
			}
			fg, bg := sgr.fg, sgr.bg
			if sgr.reverse {
				fg, bg = bg, fg
			}
			cell := image.Rect(x*CellWidth, y*CellHeight, (x+1)*CellWidth, (y+1)*CellHeight)
			draw.Draw(img, cell, image.NewUniform(bg), image.Point{}, draw.Src)
			drawRune(img, cell, rs[i], fg, bg, sgr.bold)
			x++
		}
	}
	if scale == 1 {
		return img
	}
	big := image.NewRGBA(image.Rect(0, 0, cols*CellWidth*scale, rows*CellHeight*scale))
	for y := 0; y < big.Bounds().Dy(); y++ {
		for x := 0; x < big.Bounds().Dx(); x++ {
			big.SetRGBA(x, y, img.RGBAAt(x/scale, y/scale))
		}
	}
	return big
}

func drawRune(img *image.RGBA, cell image.Rectangle, r rune, fg, bg color.RGBA, bold bool) {
	fill := func(rect image.Rectangle, c color.Color) {
		draw.Draw(img, rect.Intersect(cell), image.NewUniform(c), image.Point{}, draw.Src)
	}
	mid := cell.Min.Y + CellHeight/2
	switch r {
	case ' ':
		return
	case '█':
		fill(cell, fg)
		return
	case '░', '▒', '▓':
		a := map[rune]uint8{'░': 64, '▒': 128, '▓': 192}[r]
		fill(cell, blend(bg, fg, a))
		return
	case '—', '─', '-':
		if r != '-' {
			fill(image.Rect(cell.Min.X, mid, cell.Max.X, mid+1), fg)
			return
		}
	case '·':
		fill(image.Rect(cell.Min.X+3, mid, cell.Min.X+5, mid+2), fg)
		return
	case '…':
		for _, dx := range []int{1, 3, 5} {
			fill(image.Rect(cell.Min.X+dx, cell.Max.Y-4, cell.Min.X+dx+1, cell.Max.Y-3), fg)
		}
		return
	case '✓', '✗', '↑', '↓', '•', '●':
		r = map[rune]rune{'✓': 'v', '✗': 'x', '↑': '^', '↓': 'v', '•': '*', '●': '*'}[r]
	}
	if r < 0x20 || r > 0x7e {
		r = '?'
	}
	d := font.Drawer{Dst: img, Src: image.NewUniform(fg), Face: basicfont.Face7x13,
		Dot: fixed.P(cell.Min.X, cell.Min.Y+basicfont.Face7x13.Ascent)}
	d.DrawString(string(r))
	if bold {
		// Overstrike one pixel to the right: the font has no bold face.
		d.Dot = fixed.P(cell.Min.X+1, cell.Min.Y+basicfont.Face7x13.Ascent)
		d.DrawString(string(r))
	}
}

func blend(a, b color.RGBA, alpha uint8) color.RGBA {
	mix := func(x, y uint8) uint8 { return uint8((int(x)*(255-int(alpha)) + int(y)*int(alpha)) / 255) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}

type sgrState struct {
	fg, bg        color.RGBA
	bold, reverse bool
}

// parse reads the escape sequence at rs[i] and returns the index of its
// last rune. Only SGR (ESC [ ... m) changes the state; others are skipped.
func (s *sgrState) parse(rs []rune, i int, defFG, defBG color.RGBA) int {
	if i+1 >= len(rs) || rs[i+1] != '[' {
		return i
	}
	j := i + 2
	for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
		j++
	}
	if j >= len(rs) {
		return len(rs) - 1
	}
	if rs[j] != 'm' {
		return j
	}
	var ps []int
	for _, f := range strings.Split(string(rs[i+2:j]), ";") {
		n, _ := strconv.Atoi(f)
		ps = append(ps, n)
	}
	for k := 0; k < len(ps); k++ {
		p := ps[k]
		switch {
		case p == 0:
			*s = sgrState{fg: defFG, bg: defBG}
		case p == 1:
			s.bold = true
		case p == 22:
			s.bold = false
		case p == 7:
			s.reverse = true
		case p == 27:
			s.reverse = false
		case p >= 30 && p <= 37:
			s.fg = palette(p - 30)
		case p >= 90 && p <= 97:
			s.fg = palette(p - 90 + 8)
		case p >= 40 && p <= 47:
			s.bg = palette(p - 40)
		case p >= 100 && p <= 107:
			s.bg = palette(p - 100 + 8)
		case p == 39:
			s.fg = defFG
		case p == 49:
			s.bg = defBG
		case (p == 38 || p == 48) && k+2 < len(ps) && ps[k+1] == 5:
			c := palette(ps[k+2])
			if p == 38 {
				s.fg = c
			} else {
				s.bg = c
			}
			k += 2
		case (p == 38 || p == 48) && k+4 < len(ps) && ps[k+1] == 2:
			c := color.RGBA{uint8(ps[k+2]), uint8(ps[k+3]), uint8(ps[k+4]), 0xff}
			if p == 38 {
				s.fg = c
			} else {
				s.bg = c
			}
			k += 4
		}
	}
	return j
}

// palette is xterm's 256-colour palette.
func palette(n int) color.RGBA {
	base := [16][3]uint8{
		{0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0}, {0, 0, 238}, {205, 0, 205}, {0, 205, 205}, {229, 229, 229},
		{127, 127, 127}, {255, 0, 0}, {0, 255, 0}, {255, 255, 0}, {92, 92, 255}, {255, 0, 255}, {0, 255, 255}, {255, 255, 255},
	}
	switch {
	case n < 0 || n > 255:
		return color.RGBA{0xd0, 0xd0, 0xd0, 0xff}
	case n < 16:
		return color.RGBA{base[n][0], base[n][1], base[n][2], 0xff}
	case n < 232:
		n -= 16
		level := func(v int) uint8 {
			if v == 0 {
				return 0
			}
			return uint8(55 + 40*v)
		}
		return color.RGBA{level(n / 36), level(n / 6 % 6), level(n % 6), 0xff}
	}
	g := uint8(8 + 10*(n-232))
	return color.RGBA{g, g, g, 0xff}
}
