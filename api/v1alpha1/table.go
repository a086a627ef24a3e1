/*
Copyright 2026 The crmauthz Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

import (
	"fmt"
	"reflect"
	"strings"
)

// The one table of what a template governs. The compiler, admission, request parsing
// and the generator read it; the CEL markers above the permission types are the API
// server's copy of the Partial and bulk rules, and a test holds them to it. Which
// entity has which action is read from the types themselves: an entity has an action
// when its permissions type has a *Permission field of that action's JSON name. So
// adding an action or an entity is a field in the types plus a row here
// (docs/extending.md).

// ActionRule is one action a template grants on records, and what it accepts.
// +kubebuilder:object:generate=false
type ActionRule struct {
	// Name is the action's name in the API: a permission's JSON name, a request's
	// "action".
	Name string
	// Partial: the action accepts `access: Partial` (with a field list).
	Partial bool
	// Bulk: the action accepts `bulk`.
	Bulk bool
}

// Actions lists every record action, in the order the engine numbers them. The
// feature question "access" follows them and is not a permission.
var Actions = [...]ActionRule{
	{Name: "view", Partial: true},
	{Name: "create", Partial: true, Bulk: true},
	{Name: "edit", Partial: true, Bulk: true},
	{Name: "delete", Bulk: true},
	{Name: "export"},
	{Name: "import"},
	{Name: "reassign"},
	{Name: "markComplete"},
}

// EntityNames lists every entity, in the order the engine numbers them: the JSON names
// of the fields of Entities.
var EntityNames = [...]string{"leads", "opportunities", "accounts", "activities", "tasks", "users"}

// MaxTemplates is the most PermissionTemplates a namespace (a CRM account) may hold.
const MaxTemplates = 50

// GovernedRoles are the roles a template may govern: every role but SuperAdmin.
var GovernedRoles = Roles[1:]

// EntityPermissions is one entity as a template sets it.
// +kubebuilder:object:generate=false
type EntityPermissions struct {
	// Entity is the entity's name (EntityNames).
	Entity string
	// Permissions are indexed like Actions; nil where the template leaves the action
	// to the baseline or the entity has no such action.
	Permissions [len(Actions)]*Permission
	// MaskedFields, OwnerOnlyFields and HiddenTypes are the entity's lists, where it
	// has them.
	MaskedFields, OwnerOnlyFields []FieldName
	HiddenTypes                   []RecordType
}

// List returns the entities e sets, in EntityNames order.
func (e *Entities) List() []EntityPermissions {
	var out []EntityPermissions
	v := reflect.ValueOf(e).Elem()
	for _, f := range entityFields {
		p := v.Field(f.index)
		if p.IsNil() {
			continue
		}
		s := p.Elem()
		ep := EntityPermissions{Entity: f.name}
		for a, i := range f.actions {
			if i >= 0 {
				ep.Permissions[a] = s.Field(i).Interface().(*Permission)
			}
		}
		for name, dst := range map[string]any{"maskedFields": &ep.MaskedFields, "ownerOnlyFields": &ep.OwnerOnlyFields, "hiddenTypes": &ep.HiddenTypes} {
			if i, ok := f.lists[name]; ok {
				reflect.ValueOf(dst).Elem().Set(s.Field(i))
			}
		}
		out = append(out, ep)
	}
	return out
}

// EntityHas says whether entity (EntityNames) has action (Actions), as its type says.
func EntityHas(entity, action int) bool { return entityFields[entity].actions[action] >= 0 }

// entityField is where an entity's permissions are in the Go types.
type entityField struct {
	name    string
	index   int               // field of Entities
	actions [len(Actions)]int // field of the entity's type per action; -1: none
	lists   map[string]int    // field per list's JSON name
}

// entityFields reads the table's shape from the types once, and fails at start-up
// (every test does) if a type and the table disagree.
var entityFields = func() [len(EntityNames)]entityField {
	var out [len(EntityNames)]entityField
	t := reflect.TypeFor[Entities]()
	if t.NumField() != len(EntityNames) {
		panic(fmt.Sprintf("v1alpha1.Entities has %d fields, EntityNames %d", t.NumField(), len(EntityNames)))
	}
	for e, name := range EntityNames {
		sf, ok := fieldByJSON(t, name)
		if !ok {
			panic("v1alpha1.Entities has no field " + name)
		}
		f := entityField{name: name, index: sf.Index[0], lists: map[string]int{}}
		et := sf.Type.Elem()
		for a := range f.actions {
			f.actions[a] = -1
		}
		for i := range et.NumField() {
			json := jsonName(et.Field(i))
			switch {
			case et.Field(i).Type == reflect.TypeFor[*Permission]():
				a := actionIndex(json)
				if a < 0 {
					panic(fmt.Sprintf("%s.%s: action %q is not in v1alpha1.Actions", et.Name(), et.Field(i).Name, json))
				}
				f.actions[a] = i
			default:
				f.lists[json] = i
			}
		}
		out[e] = f
	}
	return out
}()

func actionIndex(name string) int {
	for i, a := range Actions {
		if a.Name == name {
			return i
		}
	}
	return -1
}

func fieldByJSON(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if jsonName(t.Field(i)) == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}
