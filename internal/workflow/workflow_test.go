package workflow

import (
	"strings"
	"testing"
)

func TestExecutionName(t *testing.T) {
	long := strings.Repeat("a", 120)
	tests := []struct {
		name, runID string
		same        bool // returned unchanged
	}{
		{"valid id kept", "01HZX3Q8-run_7", true},
		{"exactly 80", strings.Repeat("b", 80), true},
		{"too long", long, false},
		{"bad chars", "run:2024/01 é", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExecutionName(tt.runID)
			if len(got) == 0 || len(got) > MaxExecutionNameLen || !validName(got) {
				t.Fatalf("ExecutionName(%q) = %q: not a valid execution name", tt.runID, got)
			}
			if (got == tt.runID) != tt.same {
				t.Errorf("ExecutionName(%q) = %q, want unchanged=%v", tt.runID, got, tt.same)
			}
			if again := ExecutionName(tt.runID); again != got {
				t.Errorf("not deterministic: %q then %q", got, again)
			}
		})
	}
	if ExecutionName(long) == ExecutionName(long+"x") {
		t.Error("two long run IDs with a shared prefix map to the same name")
	}
	if ExecutionName("a/b") == ExecutionName("a:b") {
		t.Error("run IDs differing only in invalid characters map to the same name")
	}
}
