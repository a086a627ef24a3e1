package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"
)

// skipDocument reads data as any JSON document, the way shapes that ignore unknown
// members do.
func skipDocument(data string) *Reader {
	r := &Reader{}
	r.Reset(data)
	if r.atEnd() {
		r.syntax("")
		return r
	}
	r.Skip()
	if r.err == nil && !r.atEnd() {
		r.syntax("unexpected data after the value")
	}
	return r
}

func TestSkipReadsAnyValueStrictly(t *testing.T) {
	for _, ok := range []string{
		`{}`, `[]`, `0`, `-0.5e+10`, `"x"`, `true`, `null`, `{"a":[1,{"b":null}],"c":"\u00e9\ud83d\ude00"}`,
		" { \"a\" : [ 1 , 2 ] } ",
	} {
		if err := skipDocument(ok).Err(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		`{"a":1,"a":2}`:                     "a: given twice",
		`{"a":{"b":1,"b":2}}`:               "a.b: given twice",
		`[{"x":1},{"y":[1,{"z":1,"z":1}]}]`: "[1].y[1].z: given twice",
		`01`:                                "unexpected data",
		`1.x`:                               "invalid number",
		`-`:                                 "ends early",
		`[1,]`:                              "invalid character",
		`{"a" 1}`:                           "expected ':'",
		`"\ud800"`:                          "lone UTF-16 surrogate",
		"\"\xc3\x28\"":                      "invalid UTF-8",
		`"\x"`:                              "invalid escape",
		`"\u12G4"`:                          `invalid \u escape`,
		`tru`:                               "invalid literal",
		strings.Repeat("[", 100) + strings.Repeat("]", 100): "nested more than 64 levels deep",
	} {
		err := skipDocument(bad).Err()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", bad, err, want)
		}
	}
}

func TestStringsAreSubstringsOfTheInputUnlessEscaped(t *testing.T) {
	g := NewWithT(t)
	data := `{"plain":"u-17","escaped":"a\"b"}`
	r := &Reader{}
	r.Reset(data)
	got := map[string]string{}
	r.Document(func() { r.Object(func(k string) { got[k] = r.String() }) })
	g.Expect(r.Err()).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(map[string]string{"plain": "u-17", "escaped": `a"b`}))
	g.Expect(strings.Index(data, got["plain"])).To(BeNumerically(">", 0))
}

// TestAppendStringMatchesEncodingJSON: hand-written answers escape exactly as
// encoding/json does, byte for byte.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{"", "plain ascii", `quote " and \ backslash`, "<script>&</script>", "tab\tnew\nline\r",
		"\x00\x01\x1f\x7f", "é ü 日本 😀", "\u2028\u2029", "\xff\xfe invalid", "a\xc3", strings.Repeat("long plain text ", 20)}
	for c := 0; c < 256; c++ {
		cases = append(cases, "12345678"+string(rune(c))+"abcdefgh", string([]byte{byte(c)}))
	}
	for _, s := range cases {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
		if got := AppendBytes(nil, []byte(s)); string(got) != string(want) {
			t.Errorf("%q as bytes: got %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"x", "<&>", "\xff", "\u2028", `"\`, "0123456789abcdef\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// FuzzReader: whatever the reader accepts is valid JSON and valid UTF-8.
func FuzzReader(f *testing.F) {
	for _, s := range []string{`{"a":[1,"b",{"c":null}]}`, `{"a":1,"a":2}`, `"\ud800"`, "\"\xff\"", `[1e5,-0.1,true]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if skipDocument(s).Err() != nil {
			return
		}
		if !json.Valid([]byte(s)) || !utf8.ValidString(s) {
			t.Fatalf("accepted %q, which is not valid JSON in valid UTF-8", s)
		}
	})
}

// TestRawIsTheValueAsSent: Raw hands back each array element's exact text, checked as
// strictly as Skip checks it, and IsNull sees a null without reading it.
func TestRawIsTheValueAsSent(t *testing.T) {
	g := NewWithT(t)
	r := &Reader{}
	r.Reset(`{"items": [ {"a": [1, "x"]} , 7,"s", null ], "n": null}`)
	var items []string
	var nullSeen bool
	r.Document(func() {
		r.Object(func(key string) {
			switch key {
			case "items":
				r.Array(func(int) { items = append(items, r.Raw()) })
			case "n":
				nullSeen = r.IsNull()
				r.Skip()
			}
		})
	})
	g.Expect(r.Err()).NotTo(HaveOccurred())
	g.Expect(items).To(Equal([]string{`{"a": [1, "x"]}`, `7`, `"s"`, `null`}))
	g.Expect(nullSeen).To(BeTrue())

	for _, bad := range []string{`[{"a":1,"a":2}]`, `[{"a":}]`, `["\xff"]`, `[01]`} {
		r.Reset(bad)
		r.Array(func(int) { r.Raw() })
		g.Expect(r.Err()).To(HaveOccurred(), bad)
	}
}
