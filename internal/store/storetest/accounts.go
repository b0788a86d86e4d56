package storetest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// RunAccounts is the conformance suite of deploy.AccountStore. newStore
// returns a new, empty store; it is called once per case.
func RunAccounts(t *testing.T, newStore func(t *testing.T) deploy.AccountStore) {
	ctx := context.Background()
	account := func(email string, created time.Time) *deploy.Account {
		return &deploy.Account{Email: email, PasswordHash: []byte("$2a$10$hash-of-" + email), Status: deploy.AccountPending,
			CreatedAt: created, UpdatedAt: created}
	}
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s deploy.AccountStore)
	}{
		{"create and get keep the password hash", func(t *testing.T, s deploy.AccountStore) {
			a := account("alice@example.org", t0)
			if err := s.CreateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			if a.Version != 1 {
				t.Errorf("version after create = %d, want 1", a.Version)
			}
			got, err := s.GetAccount(ctx, "alice@example.org")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(a, got); diff != "" {
				t.Errorf("stored account (-want +got):\n%s", diff)
			}
			if !bytes.Equal(got.PasswordHash, a.PasswordHash) {
				t.Errorf("password hash %q, want %q", got.PasswordHash, a.PasswordHash)
			}
		}},
		{"duplicate is Conflict and changes nothing", func(t *testing.T, s deploy.AccountStore) {
			if err := s.CreateAccount(ctx, account("a@example.org", t0)); err != nil {
				t.Fatal(err)
			}
			again := account("a@example.org", t0.Add(time.Hour))
			again.PasswordHash = []byte("other")
			if err := s.CreateAccount(ctx, again); !deploy.IsKind(err, deploy.KindConflict) {
				t.Fatalf("second create: %v, want Conflict", err)
			}
			got, err := s.GetAccount(ctx, "a@example.org")
			if err != nil {
				t.Fatal(err)
			}
			if string(got.PasswordHash) == "other" || !got.CreatedAt.Equal(t0) {
				t.Errorf("a refused create overwrote the account: %+v", got)
			}
		}},
		{"missing is NotFound", func(t *testing.T, s deploy.AccountStore) {
			if _, err := s.GetAccount(ctx, "nobody@example.org"); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("get missing: %v, want NotFound", err)
			}
			a := account("nobody@example.org", t0)
			a.Version = 1
			if err := s.UpdateAccount(ctx, a); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("update missing: %v, want NotFound", err)
			}
			if _, err := s.GetAccount(ctx, "nobody@example.org"); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("a refused update created the account: %v", err)
			}
		}},
		{"update is versioned", func(t *testing.T, s deploy.AccountStore) {
			a := account("b@example.org", t0)
			if err := s.CreateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			stale := *a
			a.Status, a.DecidedBy = deploy.AccountApproved, "admin"
			if err := s.UpdateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			if a.Version != 2 {
				t.Errorf("version after update = %d, want 2", a.Version)
			}
			stale.Status = deploy.AccountDisabled
			if err := s.UpdateAccount(ctx, &stale); !deploy.IsKind(err, deploy.KindConflict) {
				t.Fatalf("stale update: %v, want Conflict", err)
			}
			got, err := s.GetAccount(ctx, "b@example.org")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != deploy.AccountApproved || got.DecidedBy != "admin" || got.Version != 2 {
				t.Errorf("after a refused stale update the account is %+v, want approved by admin at version 2", got)
			}
		}},
		{"list oldest first", func(t *testing.T, s deploy.AccountStore) {
			if as, err := s.ListAccounts(ctx); err != nil || len(as) != 0 {
				t.Fatalf("empty store lists %v, %v", as, err)
			}
			for i, e := range []string{"c@example.org", "a@example.org", "b@example.org"} {
				if err := s.CreateAccount(ctx, account(e, t0.Add(time.Duration(i)*time.Minute))); err != nil {
					t.Fatal(err)
				}
			}
			// Same time as the first: ties order by e-mail.
			if err := s.CreateAccount(ctx, account("0@example.org", t0)); err != nil {
				t.Fatal(err)
			}
			as, err := s.ListAccounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range as {
				got = append(got, a.Email)
				if len(a.PasswordHash) == 0 {
					t.Errorf("listed %s without its password hash", a.Email)
				}
			}
			want := []string{"0@example.org", "c@example.org", "a@example.org", "b@example.org"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("listing (-want +got):\n%s", diff)
			}
		}},
		{"race: one create wins", func(t *testing.T, s deploy.AccountStore) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			won, lost := 0, 0
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.CreateAccount(ctx, account("race@example.org", t0))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won++
					case deploy.IsKind(err, deploy.KindConflict):
						lost++
					default:
						t.Errorf("create: %v", err)
					}
				}()
			}
			wg.Wait()
			if won != 1 || lost != 19 {
				t.Errorf("%d creates won and %d lost, want 1 and 19", won, lost)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}
