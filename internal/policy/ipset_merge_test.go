package policy

import (
	"net/netip"
	"testing"
)

// Ranges that touch merge, IPv6 as IPv4, however they fall in the 128 bits (found by
// make mutate: only ranges ending on a 64-bit boundary were merged in tests).
func TestIPSetMergesTouchingRanges(t *testing.T) {
	for _, tc := range []struct {
		cidrs []string
		want  int
	}{
		{[]string{"2001:db8::1/128", "2001:db8::2/128"}, 1},
		{[]string{"2001:db8::1/128", "2001:db8::3/128"}, 2},
		{[]string{"2001:db8::/127", "2001:db8::2/127", "2001:db8::4/126"}, 1},
		{[]string{"192.0.2.1/32", "192.0.2.2/32"}, 1},
		{[]string{"192.0.2.1/32", "192.0.2.3/32"}, 2},
	} {
		var b ipSetBuilder
		for _, c := range tc.cidrs {
			b.add(netip.MustParsePrefix(c))
		}
		if got := b.build().Len(); got != tc.want {
			t.Errorf("%v: %d ranges, want %d", tc.cidrs, got, tc.want)
		}
	}
}
