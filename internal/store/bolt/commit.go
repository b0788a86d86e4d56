package bolt

import (
	"errors"
	"fmt"
	"sync"

	bbolt "go.etcd.io/bbolt"
)

// errClosed answers a write after Close.
var errClosed = errors.New("the store is closed")

// maxGroup bounds how many writes share one transaction, so that one
// commit stays short.
const maxGroup = 256

// committer runs the write transactions of many goroutines as few bbolt
// transactions (group commit). bbolt runs one writer at a time and each
// commit ends with fsync, so with writes one after another every writer
// waits for every earlier writer's fsync: under load (a thousand runs in
// flight, each state transition a write) the queue, not the work, was the
// cost. Here one goroutine takes every write that arrived while the last
// commit ran, applies them in arrival order in one transaction and
// commits once. A lone write waits for nobody: it is taken at once.
//
// Every write is still atomic, isolated and durable when it returns: each
// function runs whole inside one transaction that has committed (fsync)
// before its caller hears of it. When a function returns an error, the
// transaction is rolled back, that function's caller gets its error (the
// function saw what it would have seen alone, right after the writes
// before it), and the others run again without it. So a function may run
// more than once: it must only touch the transaction and state it creates
// afresh on each call, which every write of this package does.
type committer struct {
	db *bbolt.DB

	mu     sync.Mutex
	queue  []*write
	closed bool
	wake   chan struct{} // capacity 1: "the queue is not empty"
	stop   chan struct{}
	done   chan struct{}
}

type write struct {
	fn  func(*bbolt.Tx) error
	err chan error
}

func newCommitter(db *bbolt.DB) *committer {
	c := &committer{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// update runs fn in a write transaction, possibly shared with other
// writes, and returns once that transaction committed (or fn failed).
func (c *committer) update(fn func(*bbolt.Tx) error) error {
	w := &write{fn: fn, err: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // already woken: the loop takes the whole queue
	}
	return <-w.err
}

// close runs what is queued, then stops the loop; later writes fail.
func (c *committer) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			c.drain()
			return
		}
		c.drain()
	}
}

// drain commits the queue, maxGroup writes at a time.
func (c *committer) drain() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxGroup)
		group := c.queue[:n:n]
		c.queue = c.queue[n:]
		if len(c.queue) == 0 {
			c.queue = nil
		}
		c.mu.Unlock()
		if n == 0 {
			return
		}
		c.commit(group)
	}
}

// commit applies group in one transaction; a failing function is taken
// out with its error and the rest run again.
func (c *committer) commit(group []*write) {
	for len(group) > 0 {
		failed, ferr := -1, error(nil)
		err := safely(func() error {
			return c.db.Update(func(tx *bbolt.Tx) error {
				for i, w := range group {
					if err := safely(func() error { return w.fn(tx) }); err != nil {
						failed, ferr = i, err
						return err
					}
				}
				return nil
			})
		})
		if failed < 0 {
			for _, w := range group {
				w.err <- err
			}
			return
		}
		group[failed].err <- ferr
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}

// panicError is a panic inside bbolt (a corrupt page) or inside a write.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{r}
		}
	}()
	return f()
}
