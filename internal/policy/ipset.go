package policy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// IPSet is a union of IPv4 and IPv6 networks as sorted, merged address ranges:
// membership is a binary search with no allocation.
type IPSet struct {
	v4 []range4
	v6 []range6
}

type range4 struct{ lo, hi uint32 }

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) next() (u128, bool) {
	if a.lo == ^uint64(0) {
		if a.hi == ^uint64(0) {
			return a, false
		}
		return u128{a.hi + 1, 0}, true
	}
	return u128{a.hi, a.lo + 1}, true
}

type range6 struct{ lo, hi u128 }

// ipSetBuilder collects prefixes; build merges them.
type ipSetBuilder struct {
	v4 []range4
	v6 []range6
}

func (b *ipSetBuilder) add(p netip.Prefix) {
	p = p.Masked()
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		// ::ffff:a.b.c.d/n is IPv4; Contains unmaps addresses, so store it as such.
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		a = p.Addr()
	}
	if a.Is4() {
		lo := binary.BigEndian.Uint32(a.AsSlice())
		var span uint32
		if p.Bits() < 32 {
			span = ^uint32(0) >> p.Bits()
		}
		b.v4 = append(b.v4, range4{lo, lo | span})
		return
	}
	s := a.As16()
	lo := u128{binary.BigEndian.Uint64(s[:8]), binary.BigEndian.Uint64(s[8:])}
	hi := lo
	bits := p.Bits()
	switch {
	case bits == 0:
		hi = u128{^uint64(0), ^uint64(0)}
	case bits < 64:
		hi.hi |= ^uint64(0) >> bits
		hi.lo = ^uint64(0)
	case bits < 128:
		hi.lo |= ^uint64(0) >> (bits - 64)
	}
	b.v6 = append(b.v6, range6{lo, hi})
}

func (b *ipSetBuilder) empty() bool { return len(b.v4) == 0 && len(b.v6) == 0 }

func (b *ipSetBuilder) build() *IPSet {
	sort.Slice(b.v4, func(i, j int) bool { return b.v4[i].lo < b.v4[j].lo })
	var v4 []range4
	for _, r := range b.v4 {
		// Merge r into the last range when it overlaps or touches it.
		if n := len(v4); n > 0 && uint64(r.lo) <= uint64(v4[n-1].hi)+1 {
			v4[n-1].hi = max(v4[n-1].hi, r.hi)
			continue
		}
		v4 = append(v4, r)
	}
	sort.Slice(b.v6, func(i, j int) bool { return b.v6[i].lo.less(b.v6[j].lo) })
	var v6 []range6
	for _, r := range b.v6 {
		if n := len(v6); n > 0 {
			last := &v6[n-1]
			if next, ok := last.hi.next(); !ok || !next.less(r.lo) {
				if last.hi.less(r.hi) {
					last.hi = r.hi
				}
				continue
			}
		}
		v6 = append(v6, r)
	}
	return &IPSet{v4: v4, v6: v6}
}

// Contains reports whether addr is in the set. IPv4-mapped IPv6 addresses match as IPv4.
func (s *IPSet) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	if addr.Is4() {
		a4 := addr.As4()
		x := binary.BigEndian.Uint32(a4[:])
		rs := s.v4
		lo, hi := 0, len(rs) // first range whose hi >= x
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if rs[m].hi < x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo < len(rs) && rs[lo].lo <= x
	}
	if !addr.Is6() {
		return false
	}
	a := addr.As16()
	x := u128{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}
	rs := s.v6
	lo, hi := 0, len(rs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rs[m].hi.less(x) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(rs) && !x.less(rs[lo].lo)
}

// Len is the number of merged ranges.
func (s *IPSet) Len() int { return len(s.v4) + len(s.v6) }

// ParsePrefix accepts an IP network in CIDR notation with no host bits set.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32", s)
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: a CIDR may not have a zone", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set: use %s", s, p.Masked())
	}
	return p, nil
}

// ParseProxyList reads an anonymous-proxy list: one IP or CIDR a line, blank lines and
// lines starting with # ignored. Host bits are tolerated (published exit lists are
// addresses). Any other line makes the whole list unreadable, naming the line, so that
// the caller fails closed rather than enforce half a list.
func ParseProxyList(text string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.Contains(l, "/") {
			p, err := netip.ParsePrefix(l)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q is not an IP address or CIDR", line, l)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(l)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("line %d: %q is not an IP address or CIDR", line, l)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

// String lists the set's ranges ("10.0.0.0-10.0.0.255, 192.0.2.7"), for showing
// what an allowlist lets in; two sets are equal exactly when their strings are.
func (s *IPSet) String() string {
	if s == nil {
		return ""
	}
	var parts []string
	for _, r := range s.v4 {
		lo, hi := netip.AddrFrom4(u32bytes(r.lo)), netip.AddrFrom4(u32bytes(r.hi))
		parts = append(parts, rangeString(lo, hi))
	}
	for _, r := range s.v6 {
		lo, hi := netip.AddrFrom16(u128bytes(r.lo)), netip.AddrFrom16(u128bytes(r.hi))
		parts = append(parts, rangeString(lo, hi))
	}
	return strings.Join(parts, ", ")
}

func rangeString(lo, hi netip.Addr) string {
	if lo == hi {
		return lo.String()
	}
	return lo.String() + "-" + hi.String()
}

func u32bytes(v uint32) [4]byte { return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func u128bytes(v u128) [16]byte {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(v.hi >> (56 - 8*i))
		b[8+i] = byte(v.lo >> (56 - 8*i))
	}
	return b
}
