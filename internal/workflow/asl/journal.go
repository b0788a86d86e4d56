package asl

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// Journal is where the engine persists executions so that they survive a
// crash. Each Commit is atomic and durable before it returns; the engine
// commits before every state transition. Implementations are safe for
// concurrent use.
type Journal interface {
	// Commit applies c atomically.
	Commit(c Commit) error
	// Load returns every execution still RUNNING, with its definition and
	// branch records. Its cost grows with the executions in flight, not
	// with those that ended.
	Load() ([]Stored, error)
	// Execution returns the record of one execution, running or ended,
	// and false if there is none.
	Execution(id string) (ExecutionRecord, bool, error)
	// Events returns an execution's history in order, or nil if none.
	Events(executionID string) ([]Event, error)
}

// Commit is one atomic change to the journal.
type Commit struct {
	Execution  ExecutionRecord
	Definition []byte         // stored when non-nil (at start)
	Branches   []BranchRecord // upserted
	// Finished drops the execution's definition and branch records: it
	// ended and will never be resumed.
	Finished bool
	Events   []Event
}

// Stored is an execution as loaded from the journal.
type Stored struct {
	Execution  ExecutionRecord
	Definition []byte
	Branches   []BranchRecord
}

// ExecutionRecord is an execution's summary.
type ExecutionRecord struct {
	ID          string          `json:"id"`
	Machine     string          `json:"machine"`
	Name        string          `json:"name"`
	Status      workflow.Status `json:"status"`
	Input       json.RawMessage `json:"input"`
	Output      json.RawMessage `json:"output,omitempty"`
	Error       string          `json:"error,omitempty"`
	Cause       string          `json:"cause,omitempty"`
	Start       time.Time       `json:"start"`
	Stop        time.Time       `json:"stop,omitzero"`
	Transitions int             `json:"transitions"`
	LastEventID int64           `json:"lastEventId"`
}

// BranchRecord is where one thread of an execution stands: the top level
// (ID ""), a Parallel branch or a Map iteration.
type BranchRecord struct {
	ID       string          `json:"id"`
	State    string          `json:"state"`
	Input    json.RawMessage `json:"input"` // the state's raw input
	Entered  time.Time       `json:"entered"`
	Started  time.Time       `json:"started"` // this attempt's start (TimeoutSeconds counts from it)
	Visit    int             `json:"visit"`   // bumped on each entry and retry; names child branches
	Attempts []int           `json:"attempts,omitempty"`
	Retries  int             `json:"retries,omitempty"`
	// Callback tasks.
	Token   string     `json:"token,omitempty"`
	Invoked bool       `json:"invoked,omitempty"` // the function accepted the token
	Reply   *TaskReply `json:"reply,omitempty"`   // received, not yet acted on
	// Finished child branches.
	Done   bool            `json:"done,omitempty"`
	Failed bool            `json:"failed,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  string          `json:"cause,omitempty"`
}

// TaskReply is a SendTaskSuccess (Output) or SendTaskFailure (Error, Cause).
type TaskReply struct {
	Output json.RawMessage `json:"output,omitempty"`
	Failed bool            `json:"failed,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  string          `json:"cause,omitempty"`
}

// Event is one entry of an execution's history, named like the events of
// Step Functions' GetExecutionHistory.
type Event struct {
	ID        int64           `json:"id"`
	Timestamp time.Time       `json:"timestamp"`
	Type      string          `json:"type"`
	State     string          `json:"state,omitempty"`
	Branch    string          `json:"branch,omitempty"` // "" for the top level
	Resource  string          `json:"resource,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Output    json.RawMessage `json:"output,omitempty"`
	Error     string          `json:"error,omitempty"`
	Cause     string          `json:"cause,omitempty"`
}

// MemJournal keeps everything in memory: for tests, and for engines that
// need no durability. Records are copied through JSON, so nothing the engine
// holds is shared with the journal.
type MemJournal struct {
	mu     sync.Mutex
	execs  map[string][]byte
	defs   map[string][]byte
	brs    map[string]map[string][]byte
	events map[string][][]byte
}

// NewMemJournal returns an empty in-memory journal.
func NewMemJournal() *MemJournal {
	return &MemJournal{execs: map[string][]byte{}, defs: map[string][]byte{}, brs: map[string]map[string][]byte{}, events: map[string][][]byte{}}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // records are plain data
	}
	return b
}

// Commit implements Journal.
func (j *MemJournal) Commit(c Commit) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	id := c.Execution.ID
	j.execs[id] = mustJSON(c.Execution)
	if c.Definition != nil {
		j.defs[id] = append([]byte(nil), c.Definition...)
	}
	for _, b := range c.Branches {
		if j.brs[id] == nil {
			j.brs[id] = map[string][]byte{}
		}
		j.brs[id][b.ID] = mustJSON(b)
	}
	for _, e := range c.Events {
		j.events[id] = append(j.events[id], mustJSON(e))
	}
	if c.Finished {
		delete(j.defs, id)
		delete(j.brs, id)
	}
	return nil
}

// Load implements Journal.
func (j *MemJournal) Load() ([]Stored, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Stored
	for id, b := range j.execs {
		var s Stored
		if err := json.Unmarshal(b, &s.Execution); err != nil {
			return nil, err
		}
		if s.Execution.Status != workflow.StatusRunning {
			continue
		}
		s.Definition = j.defs[id]
		for _, bb := range j.brs[id] {
			var br BranchRecord
			if err := json.Unmarshal(bb, &br); err != nil {
				return nil, err
			}
			s.Branches = append(s.Branches, br)
		}
		sort.Slice(s.Branches, func(a, b int) bool { return s.Branches[a].ID < s.Branches[b].ID })
		out = append(out, s)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Execution.ID < out[b].Execution.ID })
	return out, nil
}

// Execution implements Journal.
func (j *MemJournal) Execution(id string) (ExecutionRecord, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var r ExecutionRecord
	b, ok := j.execs[id]
	if !ok {
		return r, false, nil
	}
	err := json.Unmarshal(b, &r)
	return r, err == nil, err
}

// Events implements Journal.
func (j *MemJournal) Events(id string) ([]Event, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Event
	for _, b := range j.events[id] {
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
