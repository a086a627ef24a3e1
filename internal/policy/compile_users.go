package policy

import (
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
)

// compileUsers lays out every known user (in a group or named by a template): their
// groups and the template that governs them; and per group the people in it, from
// which Team owner lists and user pickers are put together.
func (c *compiler) compileUsers() {
	s := c.s
	sort.Strings(c.userIDs)
	s.ids = slices.Clone(c.userIDs) // exact size: appending left slack
	s.index = newStrIndex(s.ids)
	s.users = make([]user, len(s.ids))
	builds := make([]*userBuild, len(s.ids)) // by position in ids
	for i, id := range s.ids {
		builds[i] = c.ub[id]
	}

	// Per group: its direct people (members and managers), as positions in ids
	// (which are sorted, so the lists are too); subtrees are merged when asked for.
	s.direct = make([][]int32, len(s.groups))
	for i, b := range builds {
		for _, g := range b.groups {
			s.direct[g] = append(s.direct[g], int32(i))
		}
	}
	for gi := range s.direct {
		s.direct[gi] = slices.Clone(s.direct[gi]) // exact size: appending left slack
	}
	s.dfs = make([]int32, len(s.groups))
	for gi := range s.groups {
		s.dfs[s.groups[gi].in] = int32(gi)
	}
	s.subtree = make([]atomic.Pointer[[]int32], len(s.groups))

	memberConflicts := map[int32][]string{}
	for i, id := range s.ids {
		b := builds[i]
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
	}
	s.groupPool = slices.Clone(s.groupPool) // exact size: appending left slack
	for t, ids := range memberConflicts {
		p := c.parsed[t]
		p.status.Conflicts = append(p.status.Conflicts, fmt.Sprintf("users %s belong to sales groups claimed by a template that sorts first, which governs them", joinLimited(ids, 5)))
	}
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
