package samcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// iamPrefix maps an aws-sdk-go-v2 service package to its IAM service
// prefix.
var iamPrefix = map[string]string{
	"dynamodb": "dynamodb", "s3": "s3", "ssm": "ssm", "sfn": "states",
	"autoscaling": "autoscaling", "ec2": "ec2", "sqs": "sqs", "lambda": "lambda",
}

// opActions maps the operations whose IAM action has another name.
var opActions = map[string][]string{
	"s3:ListObjectsV2":            {"s3:ListBucket"},
	"s3:DeleteObjects":            {"s3:DeleteObject"},
	"s3:HeadObject":               {"s3:GetObject"},
	"dynamodb:TransactGetItems":   {"dynamodb:GetItem"},
	"dynamodb:TransactWriteItems": nil, // the actions of its items (see transactItemActions)
}

// transactItemActions maps the members of a DynamoDB TransactWriteItem to
// the IAM action each needs.
var transactItemActions = map[string]string{
	"Put": "dynamodb:PutItem", "Delete": "dynamodb:DeleteItem",
	"Update": "dynamodb:UpdateItem", "ConditionCheck": "dynamodb:ConditionCheckItem",
}

const sdkService = "github.com/aws/aws-sdk-go-v2/service/"

// SDKActions returns the IAM actions of the AWS SDK operations that the
// Go files of the package in dir call, with the file and line of one call
// of each. An operation counts when a file that imports the service's
// package both calls a method named after it and names its <Op>Input
// type, or calls New<Op>Paginator.
func SDKActions(dir string) (map[string]string, error) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, pkg := range pkgs {
		for name, f := range pkg.Files {
			services := map[string]string{} // local name -> service
			typesPkgs := map[string]string{}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				rest, ok := strings.CutPrefix(path, sdkService)
				if !ok {
					continue
				}
				svc, sub, _ := strings.Cut(rest, "/")
				local := filepath.Base(path)
				if imp.Name != nil {
					local = imp.Name.Name
				}
				if sub == "types" {
					typesPkgs[local] = svc
				} else if sub == "" {
					services[local] = svc
				}
			}
			if len(services) == 0 && len(typesPkgs) == 0 {
				continue
			}
			inputs := map[string]string{} // "svc:Op" -> position, for <Op>Input references
			add := func(action string, pos token.Pos) {
				if _, ok := out[action]; !ok {
					p := fset.Position(pos)
					out[action] = fmt.Sprintf("%s:%d", filepath.Base(name), p.Line)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.SelectorExpr:
					id, ok := x.X.(*ast.Ident)
					if !ok {
						return true
					}
					if svc, ok := services[id.Name]; ok {
						if op, ok := strings.CutSuffix(x.Sel.Name, "Input"); ok {
							inputs[svc+":"+op] = fset.Position(x.Pos()).String()
						}
						if op, ok := strings.CutPrefix(x.Sel.Name, "New"); ok {
							if op, ok := strings.CutSuffix(op, "Paginator"); ok {
								for _, a := range actionsOf(svc, op) {
									add(a, x.Pos())
								}
							}
						}
					}
				case *ast.CompositeLit:
					sel, ok := x.Type.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					id, ok := sel.X.(*ast.Ident)
					if !ok || typesPkgs[id.Name] != "dynamodb" || sel.Sel.Name != "TransactWriteItem" {
						return true
					}
					for _, e := range x.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							if k, ok := kv.Key.(*ast.Ident); ok && transactItemActions[k.Name] != "" {
								add(transactItemActions[k.Name], kv.Pos())
							}
						}
					}
				}
				return true
			})
			// A call of a method named Op in a file that builds an OpInput.
			ast.Inspect(f, func(n ast.Node) bool {
				x, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := x.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				for key := range inputs {
					svc, op, _ := strings.Cut(key, ":")
					if sel.Sel.Name == op {
						for _, a := range actionsOf(svc, op) {
							add(a, x.Pos())
						}
					}
				}
				return true
			})
		}
	}
	return out, nil
}

func actionsOf(svc, op string) []string {
	prefix, ok := iamPrefix[svc]
	if !ok {
		prefix = svc
	}
	key := prefix + ":" + op
	if a, ok := opActions[key]; ok {
		return a
	}
	return []string{key}
}

// ModulePackages lists the directories of this module's packages that the
// package pattern links, itself included (go list -deps).
func ModulePackages(moduleRoot, pattern string) ([]string, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", pattern)
	cmd.Dir = moduleRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %v: %s", pattern, err, stderr.String())
	}
	var dirs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if d := strings.TrimSpace(sc.Text()); d != "" {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// LinkedActions returns the IAM actions of every SDK operation called in
// the module's packages that pattern links, each with where it is called.
func LinkedActions(moduleRoot, pattern string) (map[string]string, error) {
	dirs, err := ModulePackages(moduleRoot, pattern)
	if err != nil {
		return nil, err
	}
	all := map[string]string{}
	for _, d := range dirs {
		acts, err := SDKActions(d)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(moduleRoot, d)
		for a, pos := range acts {
			if _, ok := all[a]; !ok {
				all[a] = rel + "/" + pos
			}
		}
	}
	return all, nil
}
