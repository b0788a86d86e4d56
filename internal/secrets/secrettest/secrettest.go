// Package secrettest is the conformance suite of deploy.Secrets: every
// adapter (secrets/file, secrets/paramstore) runs it with a fresh store.
package secrettest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// sshKey looks like what the store will hold most: multi-line text with a
// trailing newline that must survive.
const sshKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"

// Run runs the suite; open returns a new empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) deploy.Secrets) {
	ctx := context.Background()

	t.Run("PutGetRoundTrip", func(t *testing.T) {
		s := open(t)
		values := map[string]string{
			deploy.SecretSSHKey:        sshKey,
			deploy.SecretDBPassword:    `p"a'ss w\ord$(x)`,
			deploy.SecretAdminPassword: "ünïcødé",
			deploy.SecretHMACKey:       "akeyakeyakey",
		}
		for n, v := range values {
			if err := s.PutSecret(ctx, "d-1", n, []byte(v)); err != nil {
				t.Fatalf("PutSecret(%s): %v", n, err)
			}
		}
		for n, v := range values {
			got, err := s.GetSecret(ctx, "d-1", n)
			if err != nil || string(got) != v {
				t.Errorf("GetSecret(%s) = %q, %v; want %q", n, got, err, v)
			}
		}
	})

	t.Run("PutReplaces", func(t *testing.T) {
		s := open(t)
		for _, v := range []string{"old-password", "new"} {
			if err := s.PutSecret(ctx, "d-1", deploy.SecretDBPassword, []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.GetSecret(ctx, "d-1", deploy.SecretDBPassword); err != nil || string(got) != "new" {
			t.Fatalf("GetSecret = %q, %v; want new", got, err)
		}
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		s := open(t)
		if err := s.PutSecret(ctx, "d-1", deploy.SecretDBPassword, []byte("x")); err != nil {
			t.Fatal(err)
		}
		for _, c := range [][2]string{{"d-1", deploy.SecretHMACKey}, {"d-2", deploy.SecretDBPassword}} {
			if _, err := s.GetSecret(ctx, c[0], c[1]); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("GetSecret(%s, %s) = %v, want NotFound", c[0], c[1], err)
			}
		}
	})

	t.Run("InvalidNames", func(t *testing.T) {
		s := open(t)
		for _, c := range [][2]string{{"", "x"}, {"d-1", ""}, {"../d", "x"}, {"d-1", "../../etc/passwd"}, {"d/1", "x"}, {"d-1", ".hidden"}, {"d-1", "a b"}} {
			if err := s.PutSecret(ctx, c[0], c[1], []byte("v")); !deploy.IsKind(err, deploy.KindInvalid) {
				t.Errorf("PutSecret(%q, %q) = %v, want Invalid", c[0], c[1], err)
			}
			if _, err := s.GetSecret(ctx, c[0], c[1]); !deploy.IsKind(err, deploy.KindInvalid) {
				t.Errorf("GetSecret(%q, %q) = %v, want Invalid", c[0], c[1], err)
			}
		}
		if err := s.DeleteSecrets(ctx, "../x"); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("DeleteSecrets(../x) = %v, want Invalid", err)
		}
	})

	t.Run("DeleteIsPerDeployment", func(t *testing.T) {
		s := open(t)
		// More secrets than one Parameter Store DeleteParameters batch (10).
		var names []string
		for i := range 13 {
			names = append(names, fmt.Sprintf("extra-%02d", i))
		}
		names = append(names, deploy.SecretSSHKey)
		for _, d := range []string{"d-1", "d-10", "d-2"} {
			for _, n := range names {
				if err := s.PutSecret(ctx, d, n, []byte(d+n)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.DeleteSecrets(ctx, "d-1"); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if _, err := s.GetSecret(ctx, "d-1", n); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("d-1 %s survived: %v", n, err)
			}
			for _, d := range []string{"d-10", "d-2"} {
				if got, err := s.GetSecret(ctx, d, n); err != nil || string(got) != d+n {
					t.Errorf("%s %s = %q, %v after deleting d-1", d, n, got, err)
				}
			}
		}
		if err := s.DeleteSecrets(ctx, "d-none"); err != nil {
			t.Errorf("DeleteSecrets of nothing = %v, want nil", err)
		}
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.PutSecret(ctx, "d-3", deploy.SecretHMACKey, []byte(fmt.Sprintf("value-%d", i))); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, err := s.GetSecret(ctx, "d-3", deploy.SecretHMACKey)
		if err != nil || len(got) != len("value-0") {
			t.Fatalf("after concurrent puts: %q, %v", got, err)
		}
	})
}
