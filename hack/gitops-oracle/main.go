// Command gitops-oracle runs the real diff and apply code of Argo CD and Flux against a cluster,
// for tests/e2e/gitops.e2e.ts (README, "Rewrite before apply (GitOps, Helm)"; docs/gitops.md):
//
//	gitops-oracle argocd-sync   --kubeconfig K -f OBJ [--server-side]
//	gitops-oracle argocd-diff   --kubeconfig K -f OBJ [--server-side-diff] [--include-mutation-webhook]
//	                            [--sync-option-server-side-apply] [--ignore-differences FILE]
//	gitops-oracle flux-diff     --kubeconfig K -f OBJ
//	gitops-oracle flux-apply    --kubeconfig K -f OBJ
//
// OBJ is one object as git holds it (JSON or YAML); for argocd-diff, a list of objects too, compared
// in one StateDiffs call as the controller compares an Application's objects (an error for one is
// an error for all). Each command prints one JSON line; a failure, {"error"} and exit 1.
//
// argocd-*: Argo CD 3.6's own packages. The sync is gitops-engine's kubectl apply as its sync
// context calls it (client-side unless --server-side, field manager argocd-controller); the diff
// is util/argo/diff.StateDiff with the DiffConfig that the application controller's
// CompareAppState builds (controller/state.go): the Application's ignoreDifferences, no diff cache,
// the OpenAPI GVK parser, manager argocd-controller, Server-Side Diff when the compare option
// ServerSideDiff=true or the sync option ServerSideApply=true is set (run with kubectl's
// server-side dry-run applier), mutation webhooks ignored unless IncludeMutationWebhook=true.
// It prints {"modified", "changes": [{"path", "live", "predicted"}]}.
//
// flux-*: fluxcd/pkg/ssa's ResourceManager with kustomize-controller's owner (field manager
// kustomize-controller). flux-diff is ResourceManager.Diff (a server-side dry-run apply forcing
// ownership, compared with the live object); flux-apply is ResourceManager.Apply with the cleanup
// options kustomize-controller passes. They print {"action", "changes"}.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"time"

	gitopsdiff "github.com/argoproj/argo-cd/gitops-engine/v3/pkg/diff"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/utils/kube"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/utils/tracing"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argodiff "github.com/argoproj/argo-cd/v3/util/argo/diff"
	"github.com/argoproj/argo-cd/v3/util/argo/normalizers"
	"github.com/fluxcd/pkg/ssa"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

const argoManager = "argocd-controller"
const fluxManager = "kustomize-controller"

type change struct {
	Path      string `json:"path"`
	Live      any    `json:"live"`
	Predicted any    `json:"predicted"`
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: gitops-oracle argocd-sync|argocd-diff|flux-diff|flux-apply --kubeconfig K -f OBJ [flags]"))
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig")
	file := fs.String("f", "", "the object as git holds it")
	serverSide := fs.Bool("server-side", false, "argocd-sync: the ServerSideApply=true sync option")
	ssd := fs.Bool("server-side-diff", false, "argocd-diff: compare option ServerSideDiff=true")
	includeMW := fs.Bool("include-mutation-webhook", false, "argocd-diff: compare option IncludeMutationWebhook=true")
	syncSSA := fs.Bool("sync-option-server-side-apply", false, "argocd-diff: the Application's sync option ServerSideApply=true")
	ignoreFile := fs.String("ignore-differences", "", "argocd-diff: the Application's spec.ignoreDifferences (YAML or JSON list)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		fail(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	objs, err := readObjects(*file)
	if err != nil {
		fail(err)
	}
	obj := objs[0]
	if len(objs) > 1 && cmd != "argocd-diff" {
		fail(fmt.Errorf("%s takes one object, %s has %d", cmd, *file, len(objs)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out any
	switch cmd {
	case "argocd-sync":
		out, err = argoSync(ctx, cfg, obj, *serverSide)
	case "argocd-diff":
		out, err = argoDiff(ctx, cfg, objs, *ssd || *syncSSA, *includeMW, *ignoreFile)
	case "flux-diff":
		out, err = fluxDiff(ctx, cfg, obj)
	case "flux-apply":
		out, err = fluxApply(ctx, cfg, obj)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fail(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(b))
}

func fail(err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	fmt.Println(string(b))
	os.Exit(1)
}

func readObjects(file string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	out := []*unstructured.Unstructured{}
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not an object: %v", file, item)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no object", file)
	}
	return out, nil
}

func kubectl() *kube.KubectlCmd {
	return &kube.KubectlCmd{Log: logr.Discard(), Tracer: tracing.NopTracer{}}
}

// live reads the object as the cluster holds it (Argo CD's cluster cache holds the same, managedFields included).
func live(ctx context.Context, cfg *rest.Config, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		return nil, err
	}
	mapping, err := restmapper.NewDiscoveryRESTMapper(groups).RESTMapping(obj.GroupVersionKind().GroupKind(), obj.GroupVersionKind().Version)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	l, err := dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace()).Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return l, err
}

func argoSync(ctx context.Context, cfg *rest.Config, obj *unstructured.Unstructured, serverSide bool) (any, error) {
	ops, cleanup, err := kubectl().ManageResources(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	msg, err := ops.ApplyResource(ctx, obj, cmdutil.DryRunNone, false, false, serverSide, argoManager)
	if err != nil {
		return nil, err
	}
	return map[string]string{"message": msg}, nil
}

func argoDiff(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, serverSideDiff, includeMW bool, ignoreFile string) (any, error) {
	ignores := []v1alpha1.ResourceIgnoreDifferences{}
	if ignoreFile != "" {
		raw, err := os.ReadFile(ignoreFile)
		if err != nil {
			return nil, err
		}
		if err := yaml.UnmarshalStrict(raw, &ignores); err != nil {
			return nil, err
		}
	}
	lives := []*unstructured.Unstructured{}
	for _, obj := range objs {
		l, err := live(ctx, cfg, obj)
		if err != nil {
			return nil, err
		}
		lives = append(lives, l)
	}
	_, gvkParser, err := kubectl().LoadOpenAPISchema(cfg)
	if err != nil {
		return nil, err
	}
	b := argodiff.NewDiffConfigBuilder().
		WithDiffSettings(ignores, map[string]v1alpha1.ResourceOverride{}, false, normalizers.IgnoreNormalizerOpts{}).
		WithTracking("", string(v1alpha1.TrackingMethodAnnotation)).
		WithNoCache()
	if includeMW {
		b.WithIgnoreMutationWebhook(false)
	}
	b.WithGVKParser(gvkParser)
	b.WithManager(argoManager)
	b.WithServerSideDiff(serverSideDiff)
	if serverSideDiff {
		applier, cleanup, err := kubectl().ManageServerSideDiffDryRuns(cfg)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		b.WithServerSideDryRunner(gitopsdiff.NewK8sServerSideDryRunner(applier))
	}
	dc, err := b.Build()
	if err != nil {
		return nil, err
	}
	res, err := argodiff.StateDiffs(ctx, lives, objs, dc)
	if err != nil {
		return nil, err
	}
	changes := []change{}
	for _, d := range res.Diffs {
		c, err := diffJSON(d.NormalizedLive, d.PredictedLive)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c...)
	}
	return map[string]any{"modified": res.Modified, "changes": changes}, nil
}

func fluxManagerFor(cfg *rest.Config) (*ssa.ResourceManager, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, err
	}
	return ssa.NewResourceManager(c, nil, ssa.Owner{Field: fluxManager, Group: "kustomize.toolkit.fluxcd.io"}), nil
}

func fluxDiff(ctx context.Context, cfg *rest.Config, obj *unstructured.Unstructured) (any, error) {
	m, err := fluxManagerFor(cfg)
	if err != nil {
		return nil, err
	}
	entry, liveObj, merged, err := m.Diff(ctx, obj, ssa.DefaultDiffOptions())
	if err != nil {
		return nil, err
	}
	changes := []change{}
	if liveObj != nil && merged != nil {
		lb, _ := json.Marshal(liveObj)
		mb, _ := json.Marshal(merged)
		if changes, err = diffJSON(lb, mb); err != nil {
			return nil, err
		}
	}
	return map[string]any{"action": string(entry.Action), "changes": changes}, nil
}

func fluxApply(ctx context.Context, cfg *rest.Config, obj *unstructured.Unstructured) (any, error) {
	m, err := fluxManagerFor(cfg)
	if err != nil {
		return nil, err
	}
	opts := ssa.DefaultApplyOptions()
	// kustomize-controller's cleanup (its controller's apply): the client-side apply annotation
	// and the field managers of kubectl and of a client-side past go, Flux takes their fields.
	opts.Cleanup = ssa.ApplyCleanupOptions{
		Annotations: []string{corev1.LastAppliedConfigAnnotation, "kustomize.toolkit.fluxcd.io/checksum", "fluxcd.io/sync-checksum"},
		FieldManagers: []ssa.FieldManager{
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationApply},
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: "before-first-apply", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: fluxManager, OperationType: metav1.ManagedFieldsOperationUpdate},
		},
		Exclusions: map[string]string{"kustomize.toolkit.fluxcd.io/ssa": "Merge"},
	}
	entry, err := m.Apply(ctx, obj, opts)
	if err != nil {
		return nil, err
	}
	return map[string]any{"action": string(entry.Action)}, nil
}

// diffJSON lists the leaves where two JSON documents differ (maps by key, lists by index).
func diffJSON(liveJSON, predictedJSON []byte) ([]change, error) {
	var a, b any
	if len(bytes.TrimSpace(liveJSON)) > 0 {
		if err := json.Unmarshal(liveJSON, &a); err != nil {
			return nil, err
		}
	}
	if len(bytes.TrimSpace(predictedJSON)) > 0 {
		if err := json.Unmarshal(predictedJSON, &b); err != nil {
			return nil, err
		}
	}
	out := []change{}
	walk("", a, b, &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func walk(path string, a, b any, out *[]change) {
	if reflect.DeepEqual(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			walk(path+"/"+k, am[k], bm[k], out)
		}
		return
	}
	al, alok := a.([]any)
	bl, blok := b.([]any)
	if alok && blok && len(al) == len(bl) {
		for i := range al {
			walk(fmt.Sprintf("%s/%d", path, i), al[i], bl[i], out)
		}
		return
	}
	*out = append(*out, change{Path: path, Live: a, Predicted: b})
}
