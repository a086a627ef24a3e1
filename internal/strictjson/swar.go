package strictjson

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// Strings are scanned eight bytes at a time (SWAR: SIMD within a register): request
// ids, names and messages are mostly plain ASCII, and a byte-at-a-time loop would
// cost more than the decision itself. Each mask has the high bit set in every byte
// that needs a look; the lowest one is exact, so the scan stops at the first such byte.

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasLess marks bytes of x below n (n <= 128).
func hasLess(x uint64, n byte) uint64 { return (x - lsb*uint64(n)) & ^x & msb }

// hasByte marks bytes of x equal to c.
func hasByte(x uint64, c byte) uint64 {
	y := x ^ (lsb * uint64(c))
	return (y - lsb) & ^y & msb
}

// scanPlain returns the index of the first byte at or after i that a string cannot
// hold as it is when reading (a quote, a backslash, a control character or the start
// of a multi-byte UTF-8 sequence), or len(b).
func scanPlain(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if m := hasLess(w, 0x20) | hasByte(w, '"') | hasByte(w, '\\') | w&msb; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

// scanSafe is scanPlain for writing: it also stops at <, > and &, which encoding/json
// escapes.
func scanSafe(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		// '"' (0x22) and '&' (0x26) differ only in bit 2, '<' (0x3c) and '>' (0x3e) in
		// bit 1: setting that bit tests both with one comparison.
		m := hasLess(w, 0x20) | hasByte(w|lsb*0x04, '&') | hasByte(w|lsb*0x02, '>') | hasByte(w, '\\') | w&msb
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(b) && b[i] < 0x80 && safe[b[i]] {
		i++
	}
	return i
}

// bytesOf views s as bytes without copying; callers only read them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
