package samcheck

import (
	"fmt"
	"go/token"
	"go/types"
	"os/exec"
	"strings"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"
)

// ReachableActions returns, for each main package (an import path), the
// IAM actions of the AWS SDK operations that code reachable from its main
// function calls, each with the position of one call.
//
// Reachability is rapid type analysis (golang.org/x/tools/go/callgraph/rta)
// over this module's code: a method called through an interface reaches
// the methods of the types that the program converts to an interface, and
// a function whose value is taken (a handler given to lambda.Start, which
// calls it by reflection) counts as reached. Dependencies are leaves: an
// operation counts where module code calls an SDK client method, or
// through one of its own API interfaces a method whose parameter is the
// SDK's <Op>Input, or an SDK New<Op>Paginator; a DynamoDB transaction
// counts the actions of the item kinds it builds.
func ReachableActions(moduleRoot string, mains []string) (map[string]map[string]string, error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes |
			packages.NeedTypesInfo | packages.NeedImports | packages.NeedDeps | packages.NeedModule,
		Dir: moduleRoot,
	}
	// Syntax for the module's own packages that the mains link, only;
	// other dependencies come from export data and have no bodies.
	list := exec.Command("go", append([]string{"list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{end}}{{end}}"}, mains...)...)
	list.Dir = moduleRoot
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("samcheck: go list -deps: %w", err)
	}
	pkgs, err := packages.Load(cfg, strings.Fields(string(out))...)
	if err != nil {
		return nil, err
	}
	var bad []string
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			bad = append(bad, e.Error())
		}
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("samcheck: load: %s", strings.Join(bad, "; "))
	}
	prog, ssaPkgs := ssautil.Packages(pkgs, ssa.InstantiateGenerics)
	prog.Build()
	byPath := map[string]*ssa.Package{}
	for _, p := range ssaPkgs {
		if p != nil {
			byPath[p.Pkg.Path()] = p
		}
	}
	res := map[string]map[string]string{}
	for _, m := range mains {
		p := byPath[m]
		if p == nil || p.Func("main") == nil {
			return nil, fmt.Errorf("samcheck: no main package %s", m)
		}
		res[m] = reachActions(prog, []*ssa.Function{p.Func("main"), p.Func("init")})
	}
	return res, nil
}

// reachActions computes the functions reachable from roots, rapid type
// analysis style, and the SDK actions they call. A dynamic call through a
// module interface reaches that method of every type converted to an
// interface in reached code; a value converted to an interface of a
// dependency (http.Handler, any, ...) may have any exported method called
// by that dependency, so those are reached too; a function whose value is
// taken in reached code is reached (lambda.Start calls its handler by
// reflection).
func reachActions(prog *ssa.Program, roots []*ssa.Function) map[string]string {
	reached := map[*ssa.Function]bool{}
	var queue []*ssa.Function
	reach := func(f *ssa.Function) {
		if f != nil && !reached[f] {
			reached[f] = true
			queue = append(queue, f)
		}
	}
	type site struct {
		iface *types.Interface
		name  string
	}
	var sites []site
	var runtimeTypes []types.Type
	seenType := map[string]bool{}
	module := func(t types.Type) bool {
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		n, ok := t.(*types.Named)
		return ok && n.Obj().Pkg() != nil && strings.HasPrefix(n.Obj().Pkg().Path(), modulePath)
	}
	dispatch := func(t types.Type, s site) {
		if !types.Implements(t, s.iface) {
			return
		}
		if sel := prog.MethodSets.MethodSet(t).Lookup(nil, s.name); sel == nil {
			// unexported method of another package: look it up by object
			ms := prog.MethodSets.MethodSet(t)
			for i := 0; i < ms.Len(); i++ {
				if ms.At(i).Obj().Name() == s.name {
					reach(prog.MethodValue(ms.At(i)))
				}
			}
			return
		} else {
			reach(prog.MethodValue(sel))
		}
	}
	for _, r := range roots {
		reach(r)
	}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		for _, fn := range takenFuncs(f) {
			reach(fn)
		}
		for _, anon := range f.AnonFuncs {
			_ = anon // reached only through MakeClosure (takenFuncs)
		}
		for _, b := range f.Blocks {
			for _, ins := range b.Instrs {
				switch x := ins.(type) {
				case ssa.CallInstruction:
					c := x.Common()
					if c.IsInvoke() {
						s := site{c.Value.Type().Underlying().(*types.Interface), c.Method.Name()}
						sites = append(sites, s)
						for _, t := range runtimeTypes {
							dispatch(t, s)
						}
					} else if callee := c.StaticCallee(); callee != nil {
						reach(callee)
					}
				case *ssa.MakeInterface:
					t := x.X.Type()
					key := types.TypeString(t, nil)
					if !module(t) || seenType[key] {
						continue
					}
					seenType[key] = true
					runtimeTypes = append(runtimeTypes, t)
					for _, s := range sites {
						dispatch(t, s)
					}
					if !module(x.Type()) {
						// A dependency may call any exported method.
						ms := prog.MethodSets.MethodSet(t)
						for i := 0; i < ms.Len(); i++ {
							if ms.At(i).Obj().Exported() {
								reach(prog.MethodValue(ms.At(i)))
							}
						}
					}
				}
			}
		}
	}
	acts := map[string]string{}
	add := func(action string, pos token.Pos) {
		if _, ok := acts[action]; !ok {
			acts[action] = prog.Fset.Position(pos).String()
		}
	}
	for f := range reached {
		if f.Blocks == nil {
			continue
		}
		for _, b := range f.Blocks {
			for _, ins := range b.Instrs {
				switch x := ins.(type) {
				case ssa.CallInstruction:
					for _, a := range sdkCallActions(x.Common()) {
						add(a, x.Pos())
					}
				case *ssa.FieldAddr:
					st, ok := x.X.Type().Underlying().(*types.Pointer)
					if !ok {
						continue
					}
					named, ok := st.Elem().(*types.Named)
					if !ok || named.Obj().Pkg() == nil || named.Obj().Pkg().Path() != sdkService+"dynamodb/types" || named.Obj().Name() != "TransactWriteItem" {
						continue
					}
					// Only a member the code sets (a store to its address)
					// makes an item of that kind; reading one does not.
					field := named.Underlying().(*types.Struct).Field(x.Field).Name()
					if a := transactItemActions[field]; a != "" && storedTo(x) {
						add(a, x.Pos())
					}
				}
			}
		}
	}
	return acts
}

// storedTo reports whether the address is written to.
func storedTo(addr *ssa.FieldAddr) bool {
	for _, r := range *addr.Referrers() {
		if st, ok := r.(*ssa.Store); ok && st.Addr == addr {
			return true
		}
	}
	return false
}

const modulePath = "github.com/edendeploy/edendeploy"

// takenFuncs returns the functions whose values f takes (closures, method
// values, function references passed as values).
func takenFuncs(f *ssa.Function) []*ssa.Function {
	var out []*ssa.Function
	for _, b := range f.Blocks {
		for _, ins := range b.Instrs {
			if mc, ok := ins.(*ssa.MakeClosure); ok {
				out = append(out, mc.Fn.(*ssa.Function))
			}
			for _, op := range ins.Operands(nil) {
				if fn, ok := (*op).(*ssa.Function); ok {
					if c, isCall := ins.(ssa.CallInstruction); isCall && c.Common().Value == fn {
						continue // a static call, not a value
					}
					out = append(out, fn)
				}
			}
		}
	}
	return out
}

// sdkCallActions recognises a call of an SDK operation.
func sdkCallActions(c *ssa.CallCommon) []string {
	var name string
	var sig *types.Signature
	switch {
	case c.IsInvoke():
		name, sig = c.Method.Name(), c.Method.Type().(*types.Signature)
	default:
		fn := c.StaticCallee()
		if fn == nil || fn.Pkg == nil && fn.Object() == nil {
			return nil
		}
		obj := fn.Object()
		if obj == nil || obj.Pkg() == nil {
			return nil
		}
		path := obj.Pkg().Path()
		svc, ok := strings.CutPrefix(path, sdkService)
		if !ok || strings.Contains(svc, "/") {
			return nil
		}
		if op, ok := strings.CutPrefix(obj.Name(), "New"); ok {
			if op, ok := strings.CutSuffix(op, "Paginator"); ok {
				return actionsOf(svc, op)
			}
			return nil
		}
		name, sig = obj.Name(), fn.Signature
	}
	// The operation's input: the parameter after the context.
	params := sig.Params()
	if params.Len() < 2 {
		return nil
	}
	ptr, ok := params.At(1).Type().(*types.Pointer)
	if !ok {
		return nil
	}
	named, ok := ptr.Elem().(*types.Named)
	if !ok || named.Obj().Pkg() == nil || named.Obj().Name() != name+"Input" {
		return nil
	}
	svc, ok := strings.CutPrefix(named.Obj().Pkg().Path(), sdkService)
	if !ok || strings.Contains(svc, "/") {
		return nil
	}
	return actionsOf(svc, name)
}
