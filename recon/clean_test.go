package recon

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  Supermicro\n", "Supermicro"},
		{"A\x00B\x07C\x1b[0m", "ABC[0m"},
		{"tab\tand\nnewline", "tab and newline"},
		{"bad \xff\xfe utf8", "bad  utf8"},
		{"\u200bzero\u2028width\u00a0", "zero width"},
		{"caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"},
		{strings.Repeat("x", 300), strings.Repeat("x", maxString)},
		{strings.Repeat("\u00e9", 200), strings.Repeat("\u00e9", maxString/2)}, // cut on a rune boundary
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !isClean(clean(tt.in)) {
			t.Errorf("clean(%q) is not clean", tt.in)
		}
	}
}

func TestCleanID(t *testing.T) {
	for in, want := range map[string]string{
		"To Be Filled By O.E.M.": "", "Default string": "", " Not Specified ": "", "0123456789": "",
		"NO DIMM": "", "S12345678": "S12345678", "None of the above": "None of the above",
	} {
		if got := cleanID(in); got != want {
			t.Errorf("cleanID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadFileBounded(t *testing.T) {
	m := fstest.MapFS{"a": {Data: make([]byte, maxAttr+1)}, "b": {Data: []byte(" 1 \n")}}
	if _, err := readAttr(m, "a"); err == nil {
		t.Error("no error for an attribute over a page")
	}
	if got, err := readAttr(m, "b"); err != nil || got != "1" {
		t.Errorf("readAttr = %q, %v", got, err)
	}
}
