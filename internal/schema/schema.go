// Package schema checks objects against the generated CRDs offline, the way the API
// server does on create: unknown fields, defaults, OpenAPI validation, list types and
// CEL rules, with the API server's own code (k8s.io/apiextensions-apiserver). `crmauthz
// validate` and `serve` use it so that what they accept, kubectl apply accepts too.
package schema

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/crmauthz/crmauthz/config/crd"
)

// Validator validates objects of the CRDs it was built from.
type Validator struct {
	kinds map[string]*kindSchema // by group/version/kind
}

type kindSchema struct {
	structural *structuralschema.Structural
	openapi    apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// New builds a validator from the CRDs embedded in the binary.
func New() (*Validator, error) {
	var crds []*apiextensionsv1.CustomResourceDefinition
	err := fs.WalkDir(crd.Bases, "bases", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".yaml" {
			return err
		}
		data, err := crd.Bases.ReadFile(p)
		if err != nil {
			return err
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, c); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		crds = append(crds, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return FromCRDs(crds)
}

// FromCRDs builds a validator from CRDs (tests use it with rules removed).
func FromCRDs(crds []*apiextensionsv1.CustomResourceDefinition) (*Validator, error) {
	v := &Validator{kinds: map[string]*kindSchema{}}
	for _, c := range crds {
		for _, ver := range c.Spec.Versions {
			if ver.Schema == nil || ver.Schema.OpenAPIV3Schema == nil {
				continue
			}
			internal := &apiextensionsinternal.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(ver.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return nil, fmt.Errorf("%s %s: %w", c.Name, ver.Name, err)
			}
			structural, err := structuralschema.NewStructural(internal)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", c.Name, ver.Name, err)
			}
			openapi, _, err := apiservervalidation.NewSchemaValidator(internal)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", c.Name, ver.Name, err)
			}
			gvk := c.Spec.Group + "/" + ver.Name + "/" + c.Spec.Names.Kind
			v.kinds[gvk] = &kindSchema{
				structural: structural,
				openapi:    openapi,
				cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
			}
		}
	}
	return v, nil
}

// Knows says whether the validator has a schema for the object's kind.
func (v *Validator) Knows(u *unstructured.Unstructured) bool {
	_, ok := v.kinds[u.GroupVersionKind().Group+"/"+u.GroupVersionKind().Version+"/"+u.GetKind()]
	return ok
}

// Validate checks u as the API server would on create, filling in the schema's
// defaults in place. Errors name the field path, as kubectl shows them.
func (v *Validator) Validate(ctx context.Context, u *unstructured.Unstructured) field.ErrorList {
	gvk := u.GroupVersionKind()
	k, ok := v.kinds[gvk.Group+"/"+gvk.Version+"/"+gvk.Kind]
	if !ok {
		return field.ErrorList{field.NotSupported[string](field.NewPath("kind"), gvk.String(), nil)}
	}
	var errs field.ErrorList
	if name := u.GetName(); name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), ""))
	} else {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(name) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), name, msg))
		}
	}
	// Unknown fields: kubectl's default (strict) field validation refuses them.
	pruned := pruning.PruneWithOptions(deepCopy(u.Object), k.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, p := range pruned {
		if strings.HasPrefix(p, "metadata.") {
			continue // metadata is validated by its own rules, not the schema
		}
		errs = append(errs, &field.Error{Type: field.ErrorTypeInvalid, Field: p, BadValue: field.OmitValueType{}, Detail: fmt.Sprintf("unknown field %q", p)})
	}
	structuraldefaulting.Default(u.Object, k.structural)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u.Object, k.openapi)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, k.structural, u.Object)...)
	if !hasTypeError(errs) {
		celErrs, _ := k.cel.Validate(ctx, nil, k.structural, u.Object, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return errs
}

// hasTypeError: like the API server, skip CEL when a value has the wrong type.
func hasTypeError(errs field.ErrorList) bool {
	for _, e := range errs {
		if e.Type == field.ErrorTypeTypeInvalid {
			return true
		}
	}
	return false
}

func deepCopy(obj map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: obj}).DeepCopy().Object
}
