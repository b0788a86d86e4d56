package runlog_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runlog"
)

func open(t *testing.T) (*runlog.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := runlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestAppendReadRangeSize(t *testing.T) {
	s, _ := open(t)
	if _, err := s.Size("r-1"); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Fatalf("Size of missing log: %v, want NotFound", err)
	}
	if _, err := s.ReadRange("r-1", 0, 10); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Fatalf("ReadRange of missing log: %v, want NotFound", err)
	}
	for _, p := range []string{"hello\n", "world\n"} {
		if err := s.Append("r-1", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Size("r-1"); err != nil || n != 12 {
		t.Fatalf("Size = %d, %v; want 12", n, err)
	}
	tests := []struct {
		off, limit int64
		want       string
	}{
		{0, 0, "hello\nworld\n"},
		{0, 5, "hello"},
		{6, 100, "world\n"},
		{12, 10, ""},
		{50, 10, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d+%d", tt.off, tt.limit), func(t *testing.T) {
			got, err := s.ReadRange("r-1", tt.off, tt.limit)
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadRange = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := s.ReadRange("r-1", -1, 1); !deploy.IsKind(err, deploy.KindInvalid) {
		t.Errorf("negative offset: %v, want Invalid", err)
	}
}

func TestInvalidRunIDs(t *testing.T) {
	s, _ := open(t)
	for _, id := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("a", 129), "a b"} {
		if err := s.Append(id, []byte("x")); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("Append(%q) = %v, want Invalid", id, err)
		}
	}
}

func TestCloseIsDurableAndRefusesAppends(t *testing.T) {
	s, dir := open(t)
	if err := s.Append("r-2", []byte("a\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close("r-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close("r-2"); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Append("r-2", []byte("b\n")); !deploy.IsKind(err, deploy.KindConflict) {
		t.Fatalf("Append after Close = %v, want Conflict", err)
	}
	// A new Store (a restart) knows the log is complete: a follower ends.
	s2, err := runlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s2.Follow(context.Background(), "r-2", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || string(got) != "a\n" {
		t.Fatalf("follow closed log = %q, %v", got, err)
	}
}

// TestFollowIsWokenByAppend: a follower blocked at the end of the log gets
// the next line without polling, then io.EOF when the log is closed.
func TestFollowIsWokenByAppend(t *testing.T) {
	s, _ := open(t)
	rc, err := s.Follow(context.Background(), "r-3", 0) // before the log exists
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lines := make(chan string)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			lines <- sc.Text()
		}
		done <- sc.Err()
	}()
	var worst time.Duration
	for i := range 20 {
		want := fmt.Sprintf("line %d", i)
		start := time.Now()
		if err := s.Append("r-3", []byte(want+"\n")); err != nil {
			t.Fatal(err)
		}
		// The next line is appended only after this one arrived: ordering,
		// not a wall-clock deadline, is what the test asserts.
		if got := <-lines; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst append-to-follower latency over 20 lines: %v", worst)
	if err := s.Close("r-3"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("follower ended with %v, want clean EOF", err)
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	s, _ := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := s.Follow(ctx, "r-4", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := rc.Read(make([]byte, 10))
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %v, want context.Canceled", err)
	}
}

// TestConcurrentWritersAndReaders: appends of whole lines from many
// goroutines are never interleaved, and every follower reads every byte.
func TestConcurrentWritersAndReaders(t *testing.T) {
	s, _ := open(t)
	const writers, perWriter, readers = 8, 500, 4
	var rwg sync.WaitGroup
	results := make([][]byte, readers)
	for i := range readers {
		rc, err := s.Follow(context.Background(), "r-5", 0)
		if err != nil {
			t.Fatal(err)
		}
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			defer rc.Close()
			results[i], _ = io.ReadAll(rc)
		}()
	}
	var wwg sync.WaitGroup
	for w := range writers {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for i := range perWriter {
				line := fmt.Sprintf("writer %d line %04d %s\n", w, i, strings.Repeat("x", w*10))
				if err := s.Append("r-5", []byte(line)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wwg.Wait()
	if err := s.Close("r-5"); err != nil {
		t.Fatal(err)
	}
	rwg.Wait()
	all, err := s.ReadRange("r-5", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	if len(lines) != writers*perWriter {
		t.Fatalf("%d lines, want %d", len(lines), writers*perWriter)
	}
	for _, l := range lines {
		var w, i int
		var xs string
		if n, _ := fmt.Sscanf(l, "writer %d line %d %s", &w, &i, &xs); n < 2 || (w > 0 && len(xs) != w*10) {
			t.Fatalf("torn line %q", l)
		}
	}
	for i, r := range results {
		if !bytes.Equal(r, all) {
			t.Errorf("reader %d read %d bytes, want %d", i, len(r), len(all))
		}
	}
}

// TestHugeLogBoundedMemory writes and follows 100,000 lines (~12 MB) and
// checks that the heap does not grow with the log: nothing holds it whole.
func TestHugeLogBoundedMemory(t *testing.T) {
	s, _ := open(t)
	const lines = 100_000
	line := []byte(strings.Repeat("y", 120) + "\n")
	rc, err := s.Follow(context.Background(), "r-6", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var read int64
	done := make(chan error, 1)
	go func() {
		n, err := io.Copy(io.Discard, rc)
		read = n
		done <- err
	}()
	var before, peak runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var peakHeap uint64
	for i := range lines {
		if err := s.Append("r-6", line); err != nil {
			t.Fatal(err)
		}
		if i%10_000 == 9_999 {
			runtime.GC() // live heap only: garbage is not "held"
			runtime.ReadMemStats(&peak)
			peakHeap = max(peakHeap, peak.HeapInuse)
		}
	}
	if err := s.Close("r-6"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	total := int64(lines * len(line))
	if read != total {
		t.Fatalf("follower read %d bytes, want %d", read, total)
	}
	growth := int64(peakHeap) - int64(before.HeapInuse)
	t.Logf("log %d bytes, heap in use before %d, peak %d (growth %d)", total, before.HeapInuse, peakHeap, growth)
	if growth > 1<<20 {
		t.Fatalf("heap grew by %d bytes for a %d-byte log: the log is being held in memory", growth, total)
	}
}

// A closed log leaves the store's memory, whatever reads it afterwards:
// the store holds only the logs still being written.
func TestClosedLogsLeaveMemory(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	for i := range 50 {
		id := fmt.Sprintf("r-%03d", i)
		if err := s.Append(id, []byte("line\n")); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(id); err != nil {
			t.Fatal(err)
		}
		// Read afterwards, as the API does.
		if n, err := s.Size(id); err != nil || n != 5 {
			t.Fatalf("size of %s: %d, %v", id, n, err)
		}
		if b, err := s.ReadRange(id, 0, 0); err != nil || string(b) != "line\n" {
			t.Fatalf("read %s: %q, %v", id, b, err)
		}
		f, err := s.Follow(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(f); err != nil || string(b) != "line\n" {
			t.Fatalf("follow %s: %q, %v", id, b, err)
		}
		f.Close()
		if closed, _ := s.Closed(id); !closed {
			t.Fatalf("%s is not closed", id)
		}
		if err := s.Append(id, []byte("late\n")); !deploy.IsKind(err, deploy.KindConflict) {
			t.Fatalf("append to closed %s: %v", id, err)
		}
	}
	if err := s.Append("r-open", []byte("still running\n")); err != nil {
		t.Fatal(err)
	}
	if n := s.OpenLogs(); n != 1 {
		t.Errorf("%d logs in memory, want only the open one", n)
	}
}
