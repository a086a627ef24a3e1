package policy

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// compileUsers lays out every known user (in a group or named by a template): their
// groups, the template that governs them, and the owner lists Team scope and user
// pickers reach, shared between users wherever the lists are equal.
func (c *compiler) compileUsers() {
	s := c.s
	sort.Strings(c.userIDs)
	s.ids = c.userIDs
	s.index = newStrIndex(s.ids)
	s.users = make([]user, len(s.ids))

	// Per group: its direct people (members and managers), then its whole subtree,
	// as positions in ids (which are sorted, so the lists are too).
	direct := make([][]int32, len(s.groups))
	for i, id := range s.ids {
		for _, g := range c.ub[id].groups {
			direct[g] = append(direct[g], int32(i))
		}
	}
	// Groups in DFS order make each subtree a contiguous run.
	order := make([]int32, len(s.groups))
	for gi := range s.groups {
		order[s.groups[gi].in] = int32(gi)
	}
	lists := &listTable{byKey: map[string]int32{}}
	directList := make([]int32, len(s.groups))
	subtreeList := make([]int32, len(s.groups))
	for gi := range s.groups {
		directList[gi] = lists.add(direct[gi])
	}
	for gi := range s.groups {
		g := &s.groups[gi]
		if g.in == g.out {
			subtreeList[gi] = directList[gi] // a leaf: its subtree is itself
			continue
		}
		var parts [][]int32
		for _, sub := range order[g.in : g.out+1] {
			parts = append(parts, direct[sub])
		}
		subtreeList[gi] = lists.add(mergeSorted(parts...))
	}

	memberConflicts := map[int32][]string{}
	for i, id := range s.ids {
		b := c.ub[id]
		u := &s.users[i]
		u.groupsOff = uint32(len(s.groupPool))
		u.numGroups, u.numManaged = uint16(len(b.groups)), uint16(len(b.managed))
		s.groupPool = append(s.groupPool, b.groups...)
		s.groupPool = append(s.groupPool, b.managed...)

		u.tmplUser, u.tmplGroup = -1, -1
		if t, ok := c.userClaim[id]; ok {
			u.tmplUser = int8(t)
		}
		// Among the templates claiming the user's groups, the one whose name sorts
		// first governs (templates are indexed in name order).
		var claimed []int32
		for _, g := range b.groups {
			if t, ok := c.groupClaim[g]; ok && !slices.Contains(claimed, t) {
				claimed = append(claimed, t)
			}
		}
		if len(claimed) > 0 {
			slices.Sort(claimed)
			u.tmplGroup = int8(claimed[0])
			if u.tmplUser < 0 {
				for _, loser := range claimed[1:] {
					memberConflicts[loser] = append(memberConflicts[loser], id)
				}
			}
		}

		// Team: the direct people of every group the user is in, and the subtree of
		// every group they manage.
		var team, visible []int32
		for _, g := range b.groups {
			team = append(team, directList[g])
		}
		for _, m := range b.managed {
			team = append(team, subtreeList[m])
			visible = append(visible, subtreeList[m])
		}
		u.team, u.visible = lists.union(team), lists.union(visible)
	}
	for t, ids := range memberConflicts {
		p := c.parsed[t]
		p.status.Conflicts = append(p.status.Conflicts, fmt.Sprintf("users %s belong to sales groups claimed by a template that sorts first, which governs them", joinLimited(ids, 5)))
	}
	s.lists = lists.lists
}

// listTable stores sorted position lists once each: users with the same team share one.
type listTable struct {
	lists [][]int32
	byKey map[string]int32 // for unions: the list indices they were made from
}

func (t *listTable) add(l []int32) int32 {
	t.lists = append(t.lists, slices.Clip(l))
	return int32(len(t.lists) - 1)
}

// union returns the index of the union of lists ids: one of them when it contains
// all the others, else a new merged list (memoised). -1 for no lists.
func (t *listTable) union(ids []int32) int32 {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	switch len(ids) {
	case 0:
		return -1
	case 1:
		return ids[0]
	}
	var k strings.Builder
	for _, id := range ids {
		k.WriteString(strconv.Itoa(int(id)))
		k.WriteByte(',')
	}
	if l, ok := t.byKey[k.String()]; ok {
		return l
	}
	parts := make([][]int32, len(ids))
	largest := ids[0]
	for i, id := range ids {
		parts[i] = t.lists[id]
		if len(t.lists[id]) > len(t.lists[largest]) {
			largest = id
		}
	}
	merged := mergeSorted(parts...)
	l := largest
	if len(merged) != len(t.lists[largest]) {
		l = t.add(merged)
	}
	t.byKey[k.String()] = l
	return l
}

// mergeSorted merges sorted lists into one sorted list without duplicates.
func mergeSorted(parts ...[]int32) []int32 {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]int32, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}
