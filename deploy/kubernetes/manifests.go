// Package kubernetes holds the Kubernetes manifests of ebpf-otel (a
// Kustomize base) and their loader: every object decoded strictly into the
// Kubernetes API types, since schema downloads (kubeconform) are not
// reachable from CI. The pod test (test/pod) runs the DaemonSet's pod
// template from it.
package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Kustomization is the part of kustomize's Kustomization this base uses;
// decoded strictly, so a field kustomize would read but this test ignores
// fails the test.
type Kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
}

type objectMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// DecodeStrict decodes YAML as the API server does in strict mode: field
// names match case-sensitively, and unknown or duplicate fields are errors.
func DecodeStrict(data []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// Base is the rendered base: every resource, decoded into its API type.
type Base struct {
	Kustomization Kustomization
	Namespace     corev1.Namespace
	Account       corev1.ServiceAccount
	Config        corev1.ConfigMap
	DaemonSet     appsv1.DaemonSet
}

// Load reads the Kustomize base in dir strictly and renders what its
// namespace transformer would; every problem is an error naming the file.
func Load(dir string) (*Base, error) {
	var b Base
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	if err := DecodeStrict(raw, &b.Kustomization); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	k := b.Kustomization
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return nil, fmt.Errorf("kustomization.yaml: %s/%s is not a kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	yamls, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, y := range yamls {
		if base := filepath.Base(y); base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
			return nil, fmt.Errorf("%s is not listed in kustomization.yaml resources", base)
		}
	}
	seen := map[string]bool{}
	for _, r := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			return nil, err
		}
		if bytes.Contains(data, []byte("\n---")) {
			return nil, fmt.Errorf("%s: keep one object per file", r)
		}
		var m objectMeta
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		var into any
		switch m.APIVersion + "/" + m.Kind {
		case "v1/Namespace":
			into = &b.Namespace
		case "v1/ServiceAccount":
			into = &b.Account
		case "v1/ConfigMap":
			into = &b.Config
		case "apps/v1/DaemonSet":
			into = &b.DaemonSet
		default:
			return nil, fmt.Errorf("%s: unexpected %s %s", r, m.APIVersion, m.Kind)
		}
		if seen[m.Kind] {
			return nil, fmt.Errorf("%s: a second %s", r, m.Kind)
		}
		seen[m.Kind] = true
		if err := DecodeStrict(data, into); err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
	}
	if len(seen) != 4 {
		return nil, fmt.Errorf("resources %v: want a Namespace, ServiceAccount, ConfigMap and DaemonSet", k.Resources)
	}
	// What kustomize's namespace transformer does; objects must not fight it.
	for _, ns := range []string{b.Account.Namespace, b.Config.Namespace, b.DaemonSet.Namespace} {
		if ns != "" {
			return nil, fmt.Errorf("an object sets namespace %q; kustomization.yaml sets it", ns)
		}
	}
	if b.Namespace.Name != k.Namespace {
		return nil, fmt.Errorf("namespace.yaml names %q, kustomization.yaml namespace is %q", b.Namespace.Name, k.Namespace)
	}
	b.Account.Namespace, b.Config.Namespace, b.DaemonSet.Namespace = k.Namespace, k.Namespace, k.Namespace
	return &b, nil
}
