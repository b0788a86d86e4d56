package httpapi_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
)

type event struct{ name, id, data string }

// readEvents reads SSE events from r until "end" or "error" or EOF.
func readEvents(t *testing.T, r io.Reader, got chan<- event) {
	defer close(got)
	sc := bufio.NewScanner(r)
	var ev event
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || data != nil {
				ev.data = strings.Join(data, "\n")
				got <- ev
				if ev.name == "end" || ev.name == "error" {
					return
				}
			}
			ev, data = event{}, nil
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
}

func next(t *testing.T, ch <-chan event) event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return event{}
}

func TestLogFollow(t *testing.T) {
	e := httpapitest.New(t, func(c *httpapi.Config) { c.KeepAlive = 20 * time.Millisecond })
	id, run := created(t, e, e.Alice, "site", "10.0.0.5")
	srv := httptest.NewServer(e.API)
	defer srv.Close()
	e.Logs.Append(run, []byte("PLAY [all]\n"))

	req, _ := http.NewRequest("GET", srv.URL+"/v1/deployments/"+id+"/runs/"+run+"/log", nil)
	req.Header.Set("Authorization", "Bearer "+e.Alice)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan event, 16)
	go readEvents(t, resp.Body, events)

	if ev := next(t, events); ev.data != "PLAY [all]\n" || ev.id != "11" {
		t.Errorf("first event %+v", ev)
	}
	// Live: each append arrives as it is made, keep-alives in between.
	time.Sleep(50 * time.Millisecond)
	e.Logs.Append(run, []byte("TASK [eden : pull]\nok: [10.0.0.5]\n"))
	if ev := next(t, events); ev.data != "TASK [eden : pull]\nok: [10.0.0.5]\n" || ev.id != "45" {
		t.Errorf("second event %+v", ev)
	}
	e.Logs.Append(run, []byte("partial line"))
	if ev := next(t, events); ev.data != "partial line" {
		t.Errorf("third event %+v", ev)
	}
	e.Logs.Complete(run)
	if ev := next(t, events); ev.name != "end" || ev.data != `{"size":57}` {
		t.Errorf("end event %+v", ev)
	}

	t.Run("resume with Last-Event-ID", func(t *testing.T) {
		rec := e.Do("GET", "/v1/deployments/"+id+"/runs/"+run+"/log?follow=1", e.Alice, "", "Last-Event-ID", "45")
		ch := make(chan event, 4)
		readEvents(t, rec.Body, ch)
		if ev := <-ch; ev.data != "partial line" || ev.id != "57" {
			t.Errorf("resumed %+v", ev)
		}
		if ev := <-ch; ev.name != "end" {
			t.Errorf("then %+v", ev)
		}
	})
	t.Run("plain read of a complete log", func(t *testing.T) {
		rec := e.Do("GET", "/v1/deployments/"+id+"/runs/"+run+"/log", e.Alice, "")
		if rec.Body.String() != "PLAY [all]\nTASK [eden : pull]\nok: [10.0.0.5]\npartial line" || rec.Header().Get("X-Log-Complete") != "true" {
			t.Errorf("plain %q complete %q", rec.Body, rec.Header().Get("X-Log-Complete"))
		}
	})
	t.Run("another user", func(t *testing.T) {
		rec := e.Do("GET", "/v1/deployments/"+id+"/runs/"+run+"/log?follow=1", e.Bob, "")
		check(t, rec, "GET", "/v1/deployments/{id}/runs/{run}/log", 404)
	})
}

func TestLogFollowEndsWhenClientLeaves(t *testing.T) {
	e := httpapitest.New(t)
	id, run := created(t, e, e.Alice, "site", "10.0.0.5")
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.API.ServeHTTP(w, r)
		close(done)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/deployments/"+id+"/runs/"+run+"/log?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+e.Alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still follows a log nobody reads")
	}
}

func TestLogFollowLimit(t *testing.T) {
	e := httpapitest.New(t, func(c *httpapi.Config) { c.FollowLimit = 30 * time.Millisecond })
	id, run := created(t, e, e.Alice, "site", "10.0.0.5")
	e.Logs.Append(run, []byte("one\n"))
	rec := e.Do("GET", "/v1/deployments/"+id+"/runs/"+run+"/log", e.Alice, "", "Accept", "text/event-stream")
	if strings.Contains(rec.Body.String(), "event: end") || !strings.Contains(rec.Body.String(), "id: 4\ndata: one\ndata: \n\n") {
		t.Errorf("limited follow:\n%s", rec.Body)
	}
}
