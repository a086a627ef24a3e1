package policy

import (
	"net/netip"
	"testing"

	. "github.com/onsi/gomega"
)

func set(cidrs ...string) *IPSet {
	var b ipSetBuilder
	for _, c := range cidrs {
		b.add(netip.MustParsePrefix(c))
	}
	return b.build()
}

func TestIPSetContains(t *testing.T) {
	cases := []struct {
		name  string
		cidrs []string
		in    []string
		out   []string
	}{
		{"IPv4 /24 edges", []string{"203.0.113.0/24"}, []string{"203.0.113.0", "203.0.113.255"}, []string{"203.0.112.255", "203.0.114.0"}},
		{"/32 is one address", []string{"192.0.2.10/32"}, []string{"192.0.2.10"}, []string{"192.0.2.9", "192.0.2.11"}},
		{"/0 is everything IPv4, nothing IPv6", []string{"0.0.0.0/0"}, []string{"0.0.0.0", "255.255.255.255"}, []string{"::1"}},
		{"IPv6 /32", []string{"2001:db8::/32"}, []string{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"2001:db9::", "2001:db7:ffff::1"}},
		{"/128 is one address", []string{"2001:db8::1/128"}, []string{"2001:db8::1"}, []string{"2001:db8::", "2001:db8::2"}},
		{"::/0 is everything IPv6", []string{"::/0"}, []string{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"10.0.0.1"}},
		{"IPv6 /64 and /72 boundaries", []string{"2001:db8:0:1::/64", "2001:db8:0:3:ff00::/72"}, []string{"2001:db8:0:1:ffff::1", "2001:db8:0:3:ffff::"}, []string{"2001:db8:0:2::", "2001:db8:0:3:fe00::"}},
		{"IPv4-mapped addresses match IPv4", []string{"10.0.0.0/8"}, []string{"::ffff:10.1.2.3"}, []string{"::ffff:11.1.2.3"}},
		{"IPv4-mapped networks are IPv4", []string{"::ffff:10.0.0.0/104"}, []string{"10.200.0.1"}, []string{"11.0.0.1"}},
		{"overlapping and adjacent ranges merge", []string{"10.0.0.0/25", "10.0.0.128/25", "10.0.0.64/26", "10.0.2.0/24"}, []string{"10.0.0.0", "10.0.0.200", "10.0.2.1"}, []string{"10.0.1.0", "10.0.3.0"}},
		{"ranges touching the top of the space", []string{"255.255.255.0/24", "ffff::/16", "fffe::/16"}, []string{"255.255.255.255", "ffff:ffff::1", "fffe::1"}, []string{"255.255.254.255", "fffd::1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			s := set(c.cidrs...)
			for _, a := range c.in {
				g.Expect(s.Contains(netip.MustParseAddr(a))).To(BeTrue(), "%s should be in %v", a, c.cidrs)
			}
			for _, a := range c.out {
				g.Expect(s.Contains(netip.MustParseAddr(a))).To(BeFalse(), "%s should not be in %v", a, c.cidrs)
			}
		})
	}
}

func TestIPSetMerges(t *testing.T) {
	g := NewWithT(t)
	g.Expect(set("10.0.0.0/25", "10.0.0.128/25").Len()).To(Equal(1))
	g.Expect(set("10.0.0.0/24", "10.0.0.0/16").Len()).To(Equal(1))
	g.Expect(set("2001:db8::/33", "2001:db8:8000::/33").Len()).To(Equal(1))
	g.Expect(set("10.0.0.0/24", "10.0.2.0/24").Len()).To(Equal(2))
}

func TestParsePrefix(t *testing.T) {
	g := NewWithT(t)
	_, err := ParsePrefix("203.0.113.5/24")
	g.Expect(err).To(MatchError(ContainSubstring("has host bits set: use 203.0.113.0/24")))
	_, err = ParsePrefix("203.0.113.5")
	g.Expect(err).To(MatchError(ContainSubstring("is not a CIDR")))
	_, err = ParsePrefix("fe80::/10%eth0")
	g.Expect(err).To(HaveOccurred())
	p, err := ParsePrefix("2001:db8::/32")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.Bits()).To(Equal(32))
}

func TestParseProxyList(t *testing.T) {
	g := NewWithT(t)
	l, err := ParseProxyList("# exits\n\n185.220.101.1\n 185.220.100.7/24 \n2001:db8::1\n::ffff:1.2.3.4\n")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(l).To(Equal([]netip.Prefix{
		netip.MustParsePrefix("185.220.101.1/32"),
		netip.MustParsePrefix("185.220.100.0/24"),
		netip.MustParsePrefix("2001:db8::1/128"),
		netip.MustParsePrefix("1.2.3.4/32"),
	}))
	_, err = ParseProxyList("1.2.3.4\nexit-node.example\n")
	g.Expect(err).To(MatchError(`line 2: "exit-node.example" is not an IP address or CIDR`))
}

func TestStrIndex(t *testing.T) {
	g := NewWithT(t)
	keys := []string{"a", "b", "u-1", "u-10", "", "zz"}
	x := newStrIndex(keys)
	for i, k := range keys {
		g.Expect(x.find(keys, k)).To(BeEquivalentTo(i))
	}
	g.Expect(x.find(keys, "u-2")).To(BeEquivalentTo(-1))
	var empty strIndex
	g.Expect(empty.find(nil, "a")).To(BeEquivalentTo(-1))
}
