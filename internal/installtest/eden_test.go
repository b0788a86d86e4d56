package installtest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// edenClient talks to a real Eden through nginx, from this machine (the
// host network namespace), as a browser would: cookies, forms, redirects.
type edenClient struct {
	t      testing.TB
	base   string // the instance URL
	client *http.Client
}

func newEdenClient(t testing.TB, base string) *edenClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &edenClient{t: t, base: strings.TrimSuffix(base, "/"), client: &http.Client{
		Jar: jar, Timeout: 2 * time.Minute,
		Transport: &http.Transport{Proxy: nil},
		// Redirects are followed by hand, so that a test sees the 303 that
		// a successful form post answers.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is one answer of Eden's.
type page struct {
	Status   int
	Header   http.Header
	Body     string
	Location string // of a redirect
	Took     time.Duration
}

// Title returns the page's <title>, unescaped.
func (p page) Title() string {
	m := regexp.MustCompile(`(?is)<title>(.*?)</title>`).FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(m[1]))
}

// do sends one request; a transport error fails the test.
func (c *edenClient) do(method, path string, form url.Values) page {
	c.t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = c.base + path
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	begin := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Location: resp.Header.Get("Location"), Took: time.Since(begin)}
}

// get fetches path, following redirects, and requires 200.
func (c *edenClient) get(path string) page {
	c.t.Helper()
	for range 10 {
		p := c.do("GET", path, nil)
		switch {
		case p.Status == http.StatusOK:
			return p
		case p.Status >= 300 && p.Status < 400 && p.Location != "":
			path = p.Location
		default:
			c.t.Fatalf("GET %s: status %d\n%s", path, p.Status, excerpt(p.Body))
		}
	}
	c.t.Fatalf("GET %s: too many redirects", path)
	return page{}
}

// submit fills the form of the page at path whose _formname is formname
// (or starts with it, for a formname ending in "/": Eden names a create
// form "<table>/None") with fields (on top of its hidden inputs: _formkey, _formname, _next)
// and posts it; Eden answers a form it accepted with a redirect, which is
// returned unfollowed.
func (c *edenClient) submit(path, formname string, fields url.Values) page {
	c.t.Helper()
	p := c.get(path)
	action, values := formOf(p.Body, formname)
	if values == nil {
		c.t.Fatalf("GET %s: no form %q in\n%s", path, formname, excerpt(p.Body))
	}
	for k, v := range fields {
		values[k] = v
	}
	if action == "" || action == "#" {
		action = path
	}
	r := c.do("POST", action, values)
	if r.Status != http.StatusSeeOther && r.Status != http.StatusFound {
		c.t.Fatalf("POST %s (form %s): status %d, want a redirect (the form accepted)\n%s", action, formname, r.Status, formErrors(r.Body))
	}
	return r
}

// login signs in through Eden's own login form; it fails the test unless
// Eden accepts the credentials.
func (c *edenClient) login(email, password string) {
	c.t.Helper()
	r := c.submit("/eden/default/user/login", "login", url.Values{"email": {email}, "password": {password}})
	if strings.Contains(r.Location, "/user/login") {
		c.t.Fatalf("login as %s: Eden sent the browser back to the login form (%s)", email, r.Location)
	}
}

var (
	formTag  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputTag = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attr     = regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*("([^"]*)"|'([^']*)')`)
)

// formOf returns the action and the hidden inputs of the form of body
// whose _formname input is formname (nil when there is none).
func formOf(body, formname string) (string, url.Values) {
	for _, f := range formTag.FindAllStringSubmatch(body, -1) {
		values := url.Values{}
		for _, in := range inputTag.FindAllStringSubmatch(f[2], -1) {
			a := attrs(in[1])
			if strings.EqualFold(a["type"], "hidden") && a["name"] != "" {
				values.Set(a["name"], a["value"])
			}
		}
		if got := values.Get("_formname"); got == formname || (strings.HasSuffix(formname, "/") && strings.HasPrefix(got, formname)) {
			return attrs(f[1])["action"], values
		}
	}
	return "", nil
}

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attr.FindAllStringSubmatch(s, -1) {
		v := a[3]
		if a[4] != "" {
			v = a[4]
		}
		m[strings.ToLower(a[1])] = html.UnescapeString(v)
	}
	return m
}

// formErrors picks Eden's form error messages out of a page, for a
// helpful failure.
func formErrors(body string) string {
	var out []string
	for _, m := range regexp.MustCompile(`(?is)<div[^>]*class="[^"]*error[^"]*"[^>]*>(.*?)</div>`).FindAllStringSubmatch(body, -1) {
		out = append(out, strings.TrimSpace(html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], ""))))
	}
	if len(out) == 0 {
		return excerpt(body)
	}
	return strings.Join(out, "\n")
}

// excerpt is the start of a page's text, for failure messages.
func excerpt(body string) string {
	text := strings.Join(strings.Fields(regexp.MustCompile(`(?s)<[^>]+>`).ReplaceAllString(body, " ")), " ")
	if len(text) > 1500 {
		text = text[:1500] + "..."
	}
	return text
}
