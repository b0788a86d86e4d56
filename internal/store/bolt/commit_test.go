package bolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// Writes that arrive together share transactions; each is still whole and
// committed when its caller hears of it; a failing one is answered with
// its own error and rolls back nothing of the others; a write after close
// fails.
func TestGroupCommit(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	c := newCommitter(db)
	var mu sync.Mutex
	calls := map[int]int{} // how often each write's function ran
	errOdd := errors.New("odd and divisible by 7")
	const n = 500
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.update(func(tx *bbolt.Tx) error {
				mu.Lock()
				calls[i]++
				mu.Unlock()
				b := tx.Bucket([]byte("b"))
				// A counter every write increments: lost or doubled
				// updates show in its final value.
				var cnt int
				fmt.Sscan(string(b.Get([]byte("count"))), &cnt)
				if err := b.Put([]byte("count"), []byte(fmt.Sprint(cnt+1))); err != nil {
					return err
				}
				if err := b.Put([]byte(fmt.Sprintf("k%03d", i)), []byte("v")); err != nil {
					return err
				}
				if i%2 == 1 && i%7 == 0 {
					return errOdd // after writing: the writes must vanish
				}
				if i == 250 {
					panic("write 250 panics")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	failing := 0
	for i, err := range errs {
		switch {
		case i == 250:
			var pe *panicError
			if !errors.As(err, &pe) {
				t.Errorf("write 250: err = %v, want the panic as an error", err)
			}
			failing++
		case i%2 == 1 && i%7 == 0:
			if !errors.Is(err, errOdd) {
				t.Errorf("write %d: err = %v, want its own error", i, err)
			}
			failing++
		case err != nil:
			t.Errorf("write %d: %v", i, err)
		}
	}
	reruns := 0
	for _, k := range calls {
		reruns += k - 1
	}
	t.Logf("%d writes, %d failing; %d functions ran again after another write of their group failed", n, failing, reruns)
	err = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		if got := string(b.Get([]byte("count"))); got != fmt.Sprint(n-failing) {
			t.Errorf("count = %s, want %d (one per successful write)", got, n-failing)
		}
		for i := range n {
			ok := b.Get([]byte(fmt.Sprintf("k%03d", i))) != nil
			if want := errs[i] == nil; ok != want {
				t.Errorf("key of write %d present: %v, want %v", i, ok, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.close()
	if err := c.update(func(*bbolt.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Errorf("write after close: %v", err)
	}
}
