package samcheck

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	ssmdoc "github.com/edendeploy/edendeploy/infra/ssm"
)

var update = flag.Bool("update", false, "rewrite the document inlined in template.yaml from infra/ssm/apply-bundle.yaml")

const (
	docBegin = "        # BEGIN infra/ssm/apply-bundle.yaml (go test ./internal/samcheck -run TestSSMDocumentInlined -update)"
	docEnd   = "        # END infra/ssm/apply-bundle.yaml"
)

// inlineDocument renders the document as the YAML block template.yaml
// holds under ApplyBundleDocument's Content, between the markers.
func inlineDocument(t *testing.T) string {
	var n yaml.Node
	if err := yaml.Unmarshal(ssmdoc.ApplyBundle, &n); err != nil {
		t.Fatal(err)
	}
	n.HeadComment, n.Content[0].HeadComment = "", ""
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	out.WriteString(docBegin + "\n")
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		out.WriteString("        " + line + "\n")
	}
	out.WriteString(docEnd + "\n")
	return out.String()
}

// TestSSMDocumentInlined checks that the Content of ApplyBundleDocument in
// template.yaml is infra/ssm/apply-bundle.yaml (a SAM template cannot
// include a file there): equal once both are parsed.
func TestSSMDocumentInlined(t *testing.T) {
	path := filepath.Join(root(t), "template.yaml")
	if *update {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i, j := strings.Index(s, docBegin), strings.Index(s, docEnd)
		if i < 0 || j < i {
			t.Fatalf("template.yaml has no %q ... %q block under ApplyBundleDocument's Content", docBegin, docEnd)
		}
		s = s[:i] + inlineDocument(t) + s[j+len(docEnd)+1:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tpl := loadT(t, "template.yaml")
	docs := tpl.OfType("AWS::SSM::Document")
	if len(docs) != 1 {
		t.Fatalf("want one AWS::SSM::Document, have %v", docs)
	}
	p := tpl.Props(docs[0])
	if p["DocumentType"] != "Command" {
		t.Errorf("DocumentType %v, want Command", p["DocumentType"])
	}
	tplDoc, err := Parse("apply-bundle.yaml", ssmdoc.ApplyBundle)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tplDoc.Root, p["Content"]); diff != "" {
		t.Errorf("ApplyBundleDocument's Content differs from infra/ssm/apply-bundle.yaml (-file +template); run go test ./internal/samcheck -run TestSSMDocumentInlined -update\n%s", diff)
	}
}
