package testhost

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParseAptSources(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		deb822 bool
		want   []aptEntry
	}{
		{"one-line", "# c\ndeb http://m/debian bookworm main\ndeb-src http://m/debian bookworm main\n", false,
			[]aptEntry{{uri: "http://m/debian", suites: []string{"bookworm"}}}},
		{"one-line options", "deb [arch=amd64 signed-by=/k.gpg] http://m/debian bookworm-updates main", false,
			[]aptEntry{{uri: "http://m/debian", suites: []string{"bookworm-updates"}}}},
		{"deb822", "Types: deb\n# http://snapshot/x\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb-src\nURIs: http://x\nSuites: bookworm\n", true,
			[]aptEntry{{uri: "http://deb.debian.org/debian", suites: []string{"bookworm", "bookworm-updates"}}}},
		{"deb822 disabled", "Types: deb\nEnabled: no\nURIs: http://x\nSuites: bookworm\n", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseAptSources(tt.text, tt.deb822)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].uri != tt.want[i].uri || !slices.Equal(got[i].suites, tt.want[i].suites) {
					t.Errorf("entry %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestAptProxyFilters(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("deb:" + r.URL.Path))
	}))
	defer upstream.Close()
	up, _ := url.Parse(upstream.URL)
	p, err := startAptProxy("127.0.0.1", []string{up.Host})
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	proxyURL, _ := url.Parse("http://" + p.addr)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}

	tests := []struct {
		method, url string
		want        int
	}{
		{"GET", upstream.URL + "/debian/dists/bookworm/InRelease", 200},
		{"HEAD", upstream.URL + "/debian/pool/x.deb", 200},
		{"POST", upstream.URL + "/debian/", 403},
		{"PUT", upstream.URL + "/debian/", 403},
		{"GET", "http://127.0.0.2:" + up.Port() + "/debian/", 403}, // another host
		{"GET", "http://" + up.Hostname() + ":1/debian/", 403},     // another port
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, tt.url, strings.NewReader(""))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.url, resp.StatusCode, tt.want)
		}
	}
	// CONNECT (https tunnelling) is refused.
	req, _ := http.NewRequest("CONNECT", "http://"+p.addr, nil)
	req.Host = up.Host
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("CONNECT: %d, want 403", resp.StatusCode)
	}
}

func TestPackagesLayerName(t *testing.T) {
	deb, ubu := distros[Debian12].template, distros[Ubuntu2404].template
	// The Debian template keeps the name existing caches have.
	if deb != "debian-bookworm" || ubu != "ubuntu-noble" {
		t.Fatalf("template names: %s %s", deb, ubu)
	}
	a := packagesLayerName(deb, normalizePackages([]string{"nginx", "git", "nginx"}))
	b := packagesLayerName(deb, normalizePackages([]string{"git,nginx"}))
	c := packagesLayerName(deb, normalizePackages([]string{"git"}))
	u := packagesLayerName(ubu, normalizePackages([]string{"git,nginx"}))
	if a != b || a == c || !strings.HasPrefix(a, "debian-bookworm-pkgs-") {
		t.Fatalf("layer names: %s %s %s", a, b, c)
	}
	if u == a || !strings.HasPrefix(u, "ubuntu-noble-pkgs-") {
		t.Fatalf("Ubuntu layer %s, Debian layer %s", u, a)
	}
}

func TestOwnerPID(t *testing.T) {
	for ns, want := range map[string]int{"edt-123-abcde-h1": 123, "edt-0-abcde-hub": 0, "other": -1, "edt-x-a-h1": -1} {
		got, ok := ownerPID(ns)
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("ownerPID(%q) = %d, want %d", ns, got, want)
		}
	}
}
