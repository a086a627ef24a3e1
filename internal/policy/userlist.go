package policy

import "hash/maphash"

// UserList is a sorted list of user ids. Lists live in the snapshot as indices into
// its sorted id table (4 bytes an entry, not 16), so thousands of users cost little;
// a UserList reads them without copying.
type UserList struct {
	ids  []string
	idx  []int32
	self string // a list of one user who is not in the table
}

// Len is the number of users.
func (l UserList) Len() int {
	if l.idx == nil {
		if l.self != "" {
			return 1
		}
		return 0
	}
	return len(l.idx)
}

// At returns the i-th user.
func (l UserList) At(i int) string {
	if l.idx == nil {
		return l.self
	}
	return l.ids[l.idx[i]]
}

// AppendTo appends the users to dst.
func (l UserList) AppendTo(dst []string) []string {
	if l.idx == nil {
		if l.self != "" {
			dst = append(dst, l.self)
		}
		return dst
	}
	for _, i := range l.idx {
		dst = append(dst, l.ids[i])
	}
	return dst
}

// OnlyUser is the list of one user.
func OnlyUser(id string) UserList { return UserList{self: id} }

// strIndex finds a string's position in a table of distinct strings: open addressing
// over int32 slots, about a sixth of the memory of a map[string]int32, and no
// allocation on lookup.
type strIndex struct {
	seed  maphash.Seed
	slots []int32 // -1: empty; else a position in the table
	mask  uint64
}

func newStrIndex(keys []string) strIndex {
	size := 8
	for size < len(keys)*3/2+1 {
		size <<= 1
	}
	x := strIndex{seed: maphash.MakeSeed(), slots: make([]int32, size), mask: uint64(size - 1)}
	for i := range x.slots {
		x.slots[i] = -1
	}
	for i, k := range keys {
		j := maphash.String(x.seed, k) & x.mask
		for x.slots[j] >= 0 {
			j = (j + 1) & x.mask
		}
		x.slots[j] = int32(i)
	}
	return x
}

// find returns k's position in keys, or -1.
func (x *strIndex) find(keys []string, k string) int32 {
	if len(x.slots) == 0 {
		return -1
	}
	for j := maphash.String(x.seed, k) & x.mask; ; j = (j + 1) & x.mask {
		s := x.slots[j]
		if s < 0 || keys[s] == k {
			return s
		}
	}
}
