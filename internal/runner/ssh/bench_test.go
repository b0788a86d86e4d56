package ssh_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const benchPlay = `
- hosts: all
  gather_facts: false
  tasks:
    - name: One module round trip
      ansible.builtin.command: "true"
    - name: Another
      ansible.builtin.file:
        path: "{{ eden_record_dir }}/{{ inventory_hostname }}"
        state: directory
        mode: "0755"
`

// BenchmarkRunnerOverhead runs the same bundle on the same three hosts
// through the runner (fetch, extract, key and inventory files, streaming
// to the run log, callback plugin, signalling) and as a bare
// ansible-playbook with equivalent arguments, side by side.
func BenchmarkRunnerOverhead(b *testing.B) {
	e, c, rec := realEnv(b, 3, nil)
	files := map[string]string{"site.yml": benchPlay}
	d := e.putBundle(b, files, c.PrivateKey, addrs(c)...)

	// The bare run: the same bundle, extracted once, with a plain inventory.
	bare := b.TempDir()
	for n, v := range files {
		os.WriteFile(filepath.Join(bare, n), []byte(v), 0o600)
	}
	var inv strings.Builder
	for _, a := range addrs(c) {
		inv.WriteString(a + "\n")
	}
	os.WriteFile(filepath.Join(bare, "inventory"), []byte(inv.String()), 0o600)
	bareArgs := []string{"-i", "inventory", "-u", "root", "--private-key", c.KeyPath, "-f", "3",
		"-e", "eden_record_dir=" + rec, "-e", "ansible_remote_tmp=" + filepath.Join(rec, ".remote-tmp"), "site.yml"}

	b.Run("runner", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d.RunID = "r-bench-" + time.Now().Format("150405.000000")
			if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
				b.Fatal(err)
			}
			if s := e.sig.wait(b, 2*time.Minute); s.Outcome.Error != "" {
				b.Fatalf("outcome %+v", s.Outcome)
			}
		}
		reportMaxRSS(b)
	})
	b.Run("bare", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cmd := exec.Command("ansible-playbook", bareArgs...)
			cmd.Dir = bare
			cmd.Env = append(os.Environ(), "ANSIBLE_HOST_KEY_CHECKING=0", "ANSIBLE_NOCOLOR=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	})
}

// BenchmarkHugeLog streams a 100,000-line Ansible log through the runner
// and reports this process's peak RSS (getrusage), which must not grow with
// the log.
func BenchmarkHugeLog(b *testing.B) {
	e, c, _ := realEnv(b, 1, nil)
	d := e.putBundle(b, map[string]string{"site.yml": hugePlay(100_000)}, c.PrivateKey, addrs(c)...)
	for i := 0; i < b.N; i++ {
		d.RunID = "r-huge-" + time.Now().Format("150405.000000")
		if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
			b.Fatal(err)
		}
		if s := e.sig.wait(b, 5*time.Minute); s.Outcome.Error != "" {
			b.Fatalf("outcome %+v", s.Outcome)
		}
		size, _ := e.log.Size(d.RunID)
		b.ReportMetric(float64(size), "log-bytes")
	}
	reportMaxRSS(b)
}

func reportMaxRSS(b *testing.B) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}
