package testhost

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	proxyMaxConns   = 32
	proxyMaxRequest = 15 * time.Minute
)

// aptProxy is a forward HTTP proxy for apt inside Debian-kind hosts. It
// listens only on the cluster's gateway address and forwards GET and HEAD of
// plain http:// URLs on the hosts of the cluster's distribution's archives
// (the Debian mirror; or the Ubuntu archive and security hosts); anything
// else (CONNECT, other methods, other hosts, https) gets 403. It is bounded in connections, header
// size and time, and stops with the cluster.
type aptProxy struct {
	addr    string
	allowed []string
	srv     *http.Server
	client  *http.Client
	wg      sync.WaitGroup
}

func startAptProxy(gateway string, allowedHosts []string) (*aptProxy, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(gateway, "0"))
	if err != nil {
		return nil, fmt.Errorf("testhost: apt proxy: %w", err)
	}
	p := &aptProxy{
		addr: ln.Addr().String(),
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:                 nil, // straight to the mirror
				DialContext:           (&net.Dialer{Timeout: 15 * time.Second}).DialContext,
				ResponseHeaderTimeout: 60 * time.Second,
				MaxIdleConnsPerHost:   8,
				IdleConnTimeout:       30 * time.Second,
				DisableCompression:    true, // pass bodies through as they are
			},
			// apt follows redirects itself, through the proxy again.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	for _, h := range allowedHosts {
		p.allowed = append(p.allowed, hostPort(h))
	}
	lim := &limitListener{Listener: ln, sem: make(chan struct{}, proxyMaxConns)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(lim)
	}()
	return p, nil
}

func (p *aptProxy) close() {
	_ = p.srv.Close()
	p.wg.Wait()
	p.client.CloseIdleConnections()
}

// allow says whether r may go through.
func (p *aptProxy) allow(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	u := r.URL
	if u == nil || u.Scheme != "http" || u.User != nil {
		return false
	}
	return slices.Contains(p.allowed, hostPort(u.Host))
}

// hostPort canonicalizes "Host" or "Host:port" to "host:port" (port 80 by
// default), the form of aptProxy.allowed entries.
func hostPort(hp string) string {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		host, port = hp, "80"
	}
	return strings.ToLower(host) + ":" + port
}

var forwardRequestHeaders = []string{"Accept", "Cache-Control", "If-Modified-Since", "If-None-Match", "If-Range", "Range", "User-Agent"}

func (p *aptProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.allow(r) {
		http.Error(w, "testhost apt proxy: only GET/HEAD of the distribution's archives", http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), proxyMaxRequest)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, r.URL.String(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, k := range forwardRequestHeaders {
		if v := r.Header.Values(k); len(v) > 0 {
			out.Header[k] = v
		}
	}
	resp, err := p.client.Do(out)
	if err != nil {
		http.Error(w, "testhost apt proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Trailer":
			continue
		}
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, resp.Body)
	}
}

// limitListener accepts at most cap(sem) connections at a time.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
