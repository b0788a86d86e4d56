package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// browser is one headless Chromium (Debian's chromium package) driven over
// the DevTools protocol. Each tab has its own sessionStorage, so each tab
// is one signed-in person.
type browser struct {
	t        *testing.T
	ctx      context.Context
	shotsDir string
	mu       sync.Mutex
	// alerts and exceptions are what any page did that it must not:
	// open a dialog (a script a user's string smuggled in) or throw.
	alerts, exceptions []string
}

// chromiumFlags are the flags that work here as root, with no network
// beyond loopback (see the machine notes): without the background
// networking flags Chromium keeps trying to reach Google.
func chromiumFlags(userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1280, 900),
	}
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return "chromium"
}

// screenshotDir is where the console tests leave their screenshots for a
// reviewer: $EDEN_SCREENSHOT_DIR, or .cache/screenshots/console in the
// repository.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("EDEN_SCREENSHOT_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "screenshots", "console")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join(os.TempDir(), "eden-console-screenshots")
		}
		dir = parent
	}
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("the console tests drive a real Chromium")
	}
	if _, err := exec.LookPath(chromiumPath()); err != nil {
		testpeer.Missing(t, "chromium", "Debian's chromium package is needed to drive the console (make test installs it)")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumFlags(t.TempDir())...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, shotsDir: screenshotDir(t)}
	if err := os.MkdirAll(b.shotsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Start the browser itself (the first tab).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// tab is one browser tab: one person's session.
type tab struct {
	b    *browser
	name string
	ctx  context.Context
}

func (b *browser) tab(name string) *tab {
	ctx, _ := chromedp.NewContext(b.ctx)
	tb := &tab{b: b, name: name, ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.mu.Lock()
			b.alerts = append(b.alerts, fmt.Sprintf("%s: %s dialog %q", name, e.Type, e.Message))
			b.mu.Unlock()
			// Not from inside the listener: it would wait on itself.
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		case *runtime.EventExceptionThrown:
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s: %s", name, (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error()))
			b.mu.Unlock()
		}
	})
	if err != nil {
		b.t.Fatalf("open tab %s: %v", name, err)
	}
	return tb
}

// run runs actions in the tab, failing the test (with a screenshot and
// the page's text) on error.
func (tb *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, pageLimit+time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fail(what, err)
	}
}

func (tb *tab) fail(what string, err error) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + (document.querySelector('main')?.innerText || '')`))
	tb.b.t.Errorf("%s (%s): %v\nthe page says:\n%s", what, tb.name, err, text)
	tb.shot("failed-" + what)
	tb.b.t.FailNow()
}

// shot saves a screenshot of the whole page as <name>.png.
func (tb *tab) shot(name string) string {
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, name)
	p := filepath.Join(tb.b.shotsDir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	return p
}

// text returns the text of the first element sel (CSS) matches.
func (tb *tab) text(sel string) string {
	tb.b.t.Helper()
	return evalAs[string](tb, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ''`, sel))
}

// evalAs evaluates a JavaScript expression in the tab.
func evalAs[T any](tb *tab, js string) T {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.fail("evaluate "+js, err)
	}
	return v
}

// pageLimit bounds one wait on a page. Runs of the recording roles take
// seconds on a quiet machine, but minutes when make test runs every
// package at once on two cores: the limit is for a stuck page, not a
// measure of speed.
const pageLimit = 5 * time.Minute

// waitFor polls a JavaScript condition until it is true. An error of one
// evaluation (such as a page that is navigating) is tried again; the last
// one is reported if the condition never holds within pageLimit.
func (tb *tab) waitFor(what, cond string) {
	tb.b.t.Helper()
	deadline := time.Now().Add(pageLimit)
	var last error
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last == nil {
				last = fmt.Errorf("not true after %s", pageLimit)
			}
			tb.fail("wait for "+what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// goTo navigates to a route of the console (a fragment) and waits for its
// heading.
func (tb *tab) goTo(base, fragment string) {
	tb.b.t.Helper()
	tb.run("open "+fragment, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/"+fragment))
	tb.waitFor("the page of "+fragment, `document.querySelector('main h1') !== null && !document.querySelector('main .loading')`)
}

// click clicks the first element a CSS selector matches.
func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }

// clickButton clicks the button whose text is label.
func clickButton(label string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.Search(fmt.Sprintf(`//button[text()=%q]`, label)))
}

// js runs a script for its effect.
func js(script string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](script)
}

// setValue sets a form control's value as typing would, firing input and
// change events.
func setValue(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		script := fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false;
			el.value = %q; el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, sel, value)
		ok, err := chromedp.Evaluate[bool](script)(ctx, t)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no element %s", sel)
		}
		return nil
	})
}

func (b *browser) problems() (alerts, exceptions []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.alerts...), append([]string(nil), b.exceptions...)
}

// eval evaluates a JavaScript expression and decodes its JSON value into out.
func (tb *tab) eval(js string, out any) {
	tb.b.t.Helper()
	raw := evalAs[[]byte](tb, js)
	if err := json.Unmarshal(raw, out); err != nil {
		tb.b.t.Fatalf("evaluate %s: decode %s: %v", js, raw, err)
	}
}
