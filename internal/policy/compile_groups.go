package policy

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// compileGroups builds the sales-group forest: groups on a parent cycle are left out,
// a missing parent makes a group a root until the parent appears. It returns the
// index of every group in force by name.
func (c *compiler) compileGroups() map[string]int32 {
	gs := append([]v1alpha1.SalesGroup(nil), c.in.Groups...)
	sort.Slice(gs, func(i, j int) bool { return gs[i].Name < gs[j].Name })

	byName := map[string]int{}
	var valid []int
	statuses := make([]*ObjectStatus, len(gs))
	for i := range gs {
		g := &gs[i]
		st := c.status(KindSalesGroup, g.Name, g.Generation)
		statuses[i] = st
		spec := field.NewPath("spec")
		errs := append(checkUserIDs(spec.Child("managers"), g.Spec.Managers), checkUserIDs(spec.Child("members"), g.Spec.Members)...)
		if len(errs) > 0 {
			reject(st, v1alpha1.ReasonInvalid, errs.ToAggregate().Error())
			continue
		}
		byName[g.Name] = i
		valid = append(valid, i)
	}
	onCycle := findCycles(gs, valid, byName, statuses)

	// Index the groups in force.
	idx := map[string]int32{}
	var kept []int
	for _, i := range valid {
		if !onCycle[i] {
			idx[gs[i].Name] = int32(len(kept))
			kept = append(kept, i)
		}
	}
	c.buildForest(gs, kept, idx, statuses)
	c.addPeople(gs, kept, statuses)
	return idx
}

// findCycles follows each group's parent chain, colouring the groups on the current
// walk, and rejects every group on a loop (naming the loop). It says which are.
func findCycles(gs []v1alpha1.SalesGroup, valid []int, byName map[string]int, statuses []*ObjectStatus) []bool {
	const (
		unseen = iota
		walking
		done
	)
	color := make([]int, len(gs))
	onCycle := make([]bool, len(gs))
	for _, start := range valid {
		var path []int
		i := start
		for color[i] != done {
			if color[i] == walking {
				// The cycle is the part of the path from i onwards.
				k := len(path) - 1
				for path[k] != i {
					k--
				}
				cyc := path[k:]
				for n, j := range cyc {
					onCycle[j] = true
					// The chain as the webhook words it, from this group round to itself.
					names := make([]string, 0, len(cyc)+1)
					for m := range len(cyc) + 1 {
						names = append(names, gs[cyc[(n+m)%len(cyc)]].Name)
					}
					err := field.Invalid(field.NewPath("spec", "parent"), gs[j].Spec.Parent,
						fmt.Sprintf("the parent chain %s loops back to %s: sales groups must form a tree", strings.Join(names, " → "), gs[j].Name))
					reject(statuses[j], v1alpha1.ReasonCycle, err.Error())
				}
				break
			}
			color[i] = walking
			path = append(path, i)
			p, ok := byName[string(gs[i].Spec.Parent)]
			if gs[i].Spec.Parent == "" || !ok {
				break
			}
			i = p
		}
		for _, j := range path {
			color[j] = done
		}
	}
	return onCycle
}

// buildForest links the groups in force (kept, indexed by idx) to their parents and
// numbers the forest depth-first, children in name order: a group's subtree is then
// the interval [in, out], which makes "below a managed group" one comparison.
func (c *compiler) buildForest(gs []v1alpha1.SalesGroup, kept []int, idx map[string]int32, statuses []*ObjectStatus) {
	c.s.groups = make([]group, len(kept))
	children := make([][]int32, len(kept))
	var roots []int32
	for gi, i := range kept {
		g := &gs[i]
		c.s.groups[gi] = group{name: g.Name}
		parent := string(g.Spec.Parent)
		if p, ok := idx[parent]; ok && parent != "" {
			children[p] = append(children[p], int32(gi))
			continue
		}
		if parent != "" {
			statuses[i].Message = fmt.Sprintf("Compiled and enforced; parent %q is not in force, so the group is a root for now", parent)
		}
		roots = append(roots, int32(gi))
	}
	counter := int32(0)
	var visit func(g, depth int32)
	visit = func(g, depth int32) {
		c.s.groups[g].in, c.s.groups[g].depth = counter, depth
		counter++
		for _, ch := range children[g] {
			visit(ch, depth+1)
		}
		c.s.groups[g].out = counter - 1
	}
	for _, r := range roots {
		visit(r, 1)
	}
}

// addPeople records each kept group's managers and members on the users, and the
// group's member count (people, each once) and depth on its status. Groups are added
// in index order, so a user's lists end with the group if it is on them already.
func (c *compiler) addPeople(gs []v1alpha1.SalesGroup, kept []int, statuses []*ObjectStatus) {
	for gi, i := range kept {
		g, at := &gs[i], int32(gi)
		count := int32(0)
		add := func(u *userBuild) {
			if n := len(u.groups); len(appendNew(&u.groups, at)) > n {
				count++ // managers who are also members, and ids listed twice, once
			}
		}
		for _, m := range g.Spec.Managers {
			u := c.user(string(m))
			appendNew(&u.managed, at)
			add(u)
		}
		for _, m := range g.Spec.Members {
			add(c.user(string(m)))
		}
		statuses[i].MemberCount = count
		statuses[i].Depth = c.s.groups[gi].depth
	}
}

// appendNew appends v to *s unless *s ends with it (groups come in index order, so a
// list holding v ends with it), and returns *s.
func appendNew(s *[]int32, v int32) []int32 {
	if n := len(*s); n == 0 || (*s)[n-1] != v {
		*s = append(*s, v)
	}
	return *s
}

func checkUserIDs(path *field.Path, ids []v1alpha1.UserID) field.ErrorList {
	var errs field.ErrorList
	for i, id := range ids {
		if id == "" {
			errs = append(errs, field.Required(path.Index(i), "a user id may not be empty"))
		}
	}
	return errs
}
