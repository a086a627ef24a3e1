// Package strictjson reads JSON request bodies strictly, for an authorization API where
// two parsers reading one body differently is an escalation: keys match exactly (no
// case folding), a key given twice is an error (not "last one wins"), strings must be
// valid UTF-8 (never silently replaced by U+FFFD), and every error names the full path
// of the value it is about (`checks[3].resource.owner`).
//
// It is a pull reader, not a reflection-based decoder: each request shape has a small
// hand-written function that says which keys it takes, so the rules above hold for
// exactly the shapes we serve and reading costs no allocation beyond unescaping the
// rare string that has escapes. Strings without escapes are substrings of the input:
// callers pass a string they own (one copy of the body), so the values can outlive
// the request (the decision log holds them).
package strictjson

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Error is a malformed body: Path names the value ("" for the document itself).
type Error struct {
	Path    string
	Message string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// maxDepth bounds nesting, so a hostile body cannot exhaust the stack in Skip.
const maxDepth = 64

// seg is one step of the path to the value being read: an object key, or an array
// index when key is unset (isIndex).
type seg struct {
	key     string
	index   int
	isIndex bool
}

// Reader reads one JSON document. The zero value is not usable: call Reset. After the
// first error every read returns a zero value and Err reports that first error. A
// Reader points into its own buffers, so it lives on the heap: reuse one (a
// sync.Pool) rather than declaring one per body.
type Reader struct {
	data string
	buf  []byte // data, viewed as bytes for scanning
	pos  int
	err  *Error
	path []seg
	// keys holds the keys seen so far in each object being read, innermost last; an
	// object's own keys start at the index it recorded when it began.
	keys []string

	pathBuf [8]seg
	keyBuf  [24]string
}

// Reset prepares r to read data.
func (r *Reader) Reset(data string) {
	r.data, r.buf, r.pos, r.err = data, bytesOf(data), 0, nil
	r.path, r.keys = r.pathBuf[:0], r.keyBuf[:0]
}

// Err is the first error met, or nil.
func (r *Reader) Err() error {
	if r.err == nil {
		return nil
	}
	return r.err
}

// Problem is the first error met, or nil, as its concrete type.
func (r *Reader) Problem() *Error { return r.err }

// Release drops the references to the last input, so a pooled Reader does not keep
// it alive.
func (r *Reader) Release() {
	clear(r.keyBuf[:])
	clear(r.pathBuf[:])
	r.data, r.buf, r.path, r.keys, r.err = "", nil, nil, nil, nil
}

// Failed says whether an error has been met.
func (r *Reader) Failed() bool { return r.err != nil }

// Fail records an error about the value being read (the current path), unless one
// was recorded already. Decoders use it for values of the right JSON type that they
// still cannot accept.
func (r *Reader) Fail(msg string) {
	if r.err == nil {
		r.err = &Error{Path: r.Path(), Message: msg}
	}
}

// Path renders the path to the value being read.
func (r *Reader) Path() string {
	var b []byte
	for i, s := range r.path {
		if s.isIndex {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(s.index), 10)
			b = append(b, ']')
			continue
		}
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, s.key...)
	}
	return string(b)
}

func (r *Reader) syntax(msg string) {
	if r.err != nil {
		return
	}
	if r.pos >= len(r.data) {
		r.err = &Error{Path: r.Path(), Message: "the body ends early (truncated JSON)"}
		return
	}
	r.err = &Error{Path: r.Path(), Message: "malformed JSON at byte " + strconv.Itoa(r.pos) + ": " + msg}
}

var space = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (r *Reader) skipSpace() {
	for r.pos < len(r.buf) && r.buf[r.pos] <= ' ' && space[r.buf[r.pos]] {
		r.pos++
	}
}

// peek returns the next significant byte, or 0 at the end.
func (r *Reader) peek() byte {
	if r.pos < len(r.buf) && r.buf[r.pos] > ' ' {
		return r.buf[r.pos] // compact JSON
	}
	r.skipSpace()
	if r.pos >= len(r.data) {
		return 0
	}
	return r.data[r.pos]
}

// Document reads the top-level value with read (which must read an object) and then
// requires the end of the input.
func (r *Reader) Document(read func()) {
	if r.atEnd() {
		r.err = &Error{Message: "empty body: expected a JSON object"}
		return
	}
	if r.peek() != '{' {
		r.err = &Error{Message: "expected a JSON object, got " + r.kind()}
		return
	}
	read()
	if r.err == nil && !r.atEnd() {
		r.syntax("unexpected data after the JSON object")
	}
}

// atEnd says whether only white space is left. (peek's 0 is also a NUL byte.)
func (r *Reader) atEnd() bool {
	r.skipSpace()
	return r.pos >= len(r.buf)
}

// kind names the JSON type of the next value, for "expected X, got Y" messages.
func (r *Reader) kind() string {
	switch c := r.peek(); {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	case r.pos >= len(r.buf):
		return "the end of the body"
	}
	return "an invalid character " + strconv.QuoteRune(rune(r.data[r.pos]))
}

func (r *Reader) wrongType(want string) {
	if r.err != nil {
		return
	}
	if r.atEnd() {
		r.syntax("")
		return
	}
	got := r.kind()
	r.err = &Error{Path: r.Path(), Message: "expected " + want + ", got " + got}
}

// null consumes a null literal if one is next. A null stands for "not given", as a
// client that serialises empty values as null expects.
func (r *Reader) null() bool {
	if r.peek() != 'n' {
		return false
	}
	if len(r.data)-r.pos >= 4 && r.data[r.pos:r.pos+4] == "null" {
		r.pos += 4
		return true
	}
	r.syntax("invalid literal")
	return true
}

// Object reads an object, calling member with each key while the reader is at that
// key's value; member must read the value (a typed read, Skip or Unknown). A key given
// twice is an error. null reads as an empty object.
func (r *Reader) Object(member func(key string)) {
	if r.err != nil || r.null() {
		return
	}
	if r.peek() != '{' {
		r.wrongType("an object")
		return
	}
	if len(r.path) >= maxDepth {
		r.syntax("nested more than " + strconv.Itoa(maxDepth) + " levels deep")
		return
	}
	r.pos++
	start := len(r.keys)
	if r.peek() == '}' {
		r.pos++
		return
	}
	for r.err == nil {
		if r.peek() != '"' {
			r.syntax("expected a key in quotes")
			return
		}
		key, ok := r.str()
		if !ok {
			r.err.Message = "in a key: " + r.err.Message
			return
		}
		for _, k := range r.keys[start:] {
			if k == key {
				r.path = append(r.path, seg{key: key})
				r.Fail("given twice")
				return
			}
		}
		r.keys = append(r.keys, key)
		if r.peek() != ':' {
			r.syntax("expected ':' after a key")
			return
		}
		r.pos++
		r.path = append(r.path, seg{key: key})
		member(key)
		if r.err != nil {
			return // keep the path of the error
		}
		r.path = r.path[:len(r.path)-1]
		switch r.peek() {
		case ',':
			r.pos++
		case '}':
			r.pos++
			r.keys = r.keys[:start]
			return
		default:
			r.syntax("expected ',' or '}' after a value")
		}
	}
}

// Array reads an array, calling item with each index while the reader is at that
// element. null reads as an empty array.
func (r *Reader) Array(item func(i int)) {
	if r.err != nil || r.null() {
		return
	}
	if r.peek() != '[' {
		r.wrongType("an array")
		return
	}
	if len(r.path) >= maxDepth {
		r.syntax("nested more than " + strconv.Itoa(maxDepth) + " levels deep")
		return
	}
	r.pos++
	if r.peek() == ']' {
		r.pos++
		return
	}
	for i := 0; r.err == nil; i++ {
		r.path = append(r.path, seg{index: i, isIndex: true})
		item(i)
		if r.err != nil {
			return
		}
		r.path = r.path[:len(r.path)-1]
		switch r.peek() {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return
		default:
			r.syntax("expected ',' or ']' after a value")
		}
	}
}

// String reads a string; null reads as "".
func (r *Reader) String() string {
	if r.pos < len(r.buf) && r.buf[r.pos] == '"' && r.err == nil {
		s, _ := r.str() // compact JSON: no space before the value
		return s
	}
	if r.err != nil || r.null() {
		return ""
	}
	if r.peek() != '"' {
		r.wrongType("a string")
		return ""
	}
	s, _ := r.str()
	return s
}

// Strings reads an array of strings, appending them to dst.
func (r *Reader) Strings(dst []string) []string {
	r.Array(func(int) {
		if s := r.String(); r.err == nil {
			dst = append(dst, s)
		}
	})
	return dst
}

// Bool reads true or false; null reads as false.
func (r *Reader) Bool() bool {
	if r.err != nil || r.null() {
		return false
	}
	switch {
	case len(r.data)-r.pos >= 4 && r.data[r.pos:r.pos+4] == "true":
		r.pos += 4
		return true
	case len(r.data)-r.pos >= 5 && r.data[r.pos:r.pos+5] == "false":
		r.pos += 5
		return false
	case r.pos < len(r.data) && (r.data[r.pos] == 't' || r.data[r.pos] == 'f'):
		r.syntax("invalid literal")
		return false
	}
	r.wrongType("true or false")
	return false
}

// Unknown refuses the key being read: strict shapes take no key they do not name.
func (r *Reader) Unknown() { r.Fail("unknown field") }

// Skip reads and discards any value, checking it as strictly as the typed reads do
// (duplicate keys, UTF-8, number syntax). Shapes that ignore unknown members, as some
// standards require, call it for them.
func (r *Reader) Skip() {
	switch c := r.peek(); {
	case r.err != nil:
	case c == '{':
		r.Object(func(string) { r.Skip() })
	case c == '[':
		r.Array(func(int) { r.Skip() })
	case c == '"':
		r.str()
	case c == 't' || c == 'f':
		r.Bool()
	case c == 'n':
		r.null()
	case c == '-' || (c >= '0' && c <= '9'):
		r.number()
	case c == 0:
		r.syntax("invalid character '\\x00'")
	default:
		r.syntax("invalid character " + strconv.QuoteRune(rune(c)))
	}
}

// IsNull says whether the next value is null, without reading it: for shapes where a
// member given as null counts as not given.
func (r *Reader) IsNull() bool { return r.err == nil && r.peek() == 'n' }

// Raw reads any value as Skip does and returns its text, for a caller that decodes it
// later on its own (one bad item of a batch must not fail the others).
func (r *Reader) Raw() string {
	if r.err != nil {
		return ""
	}
	r.skipSpace()
	start := r.pos
	r.Skip()
	if r.err != nil {
		return ""
	}
	return r.data[start:r.pos]
}

// Number reads a JSON number and returns its text; null reads as "".
func (r *Reader) Number() string {
	if r.err != nil || r.null() {
		return ""
	}
	if c := r.peek(); c != '-' && (c < '0' || c > '9') {
		r.wrongType("a number")
		return ""
	}
	return r.number()
}

func (r *Reader) number() string {
	start := r.pos
	d := r.data
	i := r.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		r.pos = i
		r.syntax("invalid number")
		return ""
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			r.pos = i
			r.syntax("invalid number")
			return ""
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			r.pos = i
			r.syntax("invalid number")
			return ""
		}
	}
	r.pos = i
	return d[start:i]
}

// plain marks the bytes a string can hold as they are: not a quote, a backslash, a
// control character or the start of a multi-byte UTF-8 sequence.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string at r.pos (which holds '"'): a substring of the input when it has
// no escapes, else an unescaped copy.
func (r *Reader) str() (string, bool) {
	d := r.data
	i := r.pos + 1
	start := i
	for {
		i = scanPlain(r.buf, i)
		if i >= len(d) {
			r.pos = i
			r.syntax("")
			return "", false
		}
		switch c := d[i]; {
		case c == '"':
			r.pos = i + 1
			return d[start:i], true
		case c == '\\':
			return r.unescape(start, i)
		case c < 0x20:
			r.pos = i
			r.Fail("a control character inside a string must be escaped")
			return "", false
		default:
			rn, size := utf8.DecodeRuneInString(d[i:])
			if rn == utf8.RuneError && size <= 1 {
				r.pos = i
				r.Fail("invalid UTF-8 in a string (byte " + strconv.Itoa(i) + ")")
				return "", false
			}
			i += size
		}
	}
}

// unescape finishes a string that has an escape at esc, building a copy.
func (r *Reader) unescape(start, esc int) (string, bool) {
	d := r.data
	b := make([]byte, 0, esc-start+16)
	b = append(b, d[start:esc]...)
	i := esc
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			r.pos = i + 1
			return string(b), true
		case c < 0x20:
			r.pos = i
			r.Fail("a control character inside a string must be escaped")
			return "", false
		case c >= 0x80:
			rn, size := utf8.DecodeRuneInString(d[i:])
			if rn == utf8.RuneError && size <= 1 {
				r.pos = i
				r.Fail("invalid UTF-8 in a string (byte " + strconv.Itoa(i) + ")")
				return "", false
			}
			b = append(b, d[i:i+size]...)
			i += size
		case c != '\\':
			b = append(b, c)
			i++
		default:
			if i+1 >= len(d) {
				r.pos = len(d)
				r.syntax("")
				return "", false
			}
			i++
			switch e := d[i]; e {
			case '"', '\\', '/':
				b = append(b, e)
				i++
			case 'b':
				b, i = append(b, '\b'), i+1
			case 'f':
				b, i = append(b, '\f'), i+1
			case 'n':
				b, i = append(b, '\n'), i+1
			case 'r':
				b, i = append(b, '\r'), i+1
			case 't':
				b, i = append(b, '\t'), i+1
			case 'u':
				rn, next, ok := r.hex4(i + 1)
				if !ok {
					return "", false
				}
				i = next
				if utf16.IsSurrogate(rn) {
					// A surrogate must be the first half of a pair: a lone one is not
					// a character, and decoding it as U+FFFD would hide what was sent.
					if next+1 < len(d) && d[next] == '\\' && d[next+1] == 'u' {
						lo, after, ok := r.hex4(next + 2)
						if !ok {
							return "", false
						}
						if pair := utf16.DecodeRune(rn, lo); pair != utf8.RuneError {
							b = utf8.AppendRune(b, pair)
							i = after
							continue
						}
					}
					r.pos = i
					r.Fail(`invalid UTF-8 in a string: a lone UTF-16 surrogate \u escape`)
					return "", false
				}
				b = utf8.AppendRune(b, rn)
			default:
				r.pos = i
				r.syntax("invalid escape in a string")
				return "", false
			}
		}
	}
	r.pos = i
	r.syntax("")
	return "", false
}

// hex4 reads the four hex digits of a \u escape at i.
func (r *Reader) hex4(i int) (rune, int, bool) {
	if i+4 > len(r.data) {
		r.pos = len(r.data)
		r.syntax("")
		return 0, 0, false
	}
	var v rune
	for _, c := range []byte(r.data[i : i+4]) {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			v |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v |= rune(c - 'A' + 10)
		default:
			r.pos = i
			r.syntax(`invalid \u escape`)
			return 0, 0, false
		}
	}
	return v, i + 4, true
}
