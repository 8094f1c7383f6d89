package extract

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ChildEnv is the environment variable that turns a re-executed coachwire
// binary (or test binary) into an extraction child; ChildArgsEnv carries
// the job as JSON.
const (
	ChildEnv     = "COACHWIRE_EXTRACT_CHILD"
	ChildArgsEnv = "COACHWIRE_EXTRACT_JOB"
)

type childJob struct {
	Path   string `json:"path"`
	Format Format `json:"format"`
	Limits Limits `json:"limits"`
}

// childMsg is one line of the child's output: the document's head (format and title), then
// one line per section, then the end; or, instead, the error. The parent decodes it line by
// line, so it never holds the whole document's JSON as well as the document.
type childMsg struct {
	Head    *Document `json:"head,omitempty"`
	Section *Section  `json:"section,omitempty"`
	End     bool      `json:"end,omitempty"`
	Kind    string    `json:"kind,omitempty"` // empty, too_large, corrupt, unsupported, empty_file, no_text
	Error   string    `json:"error,omitempty"`
}

// MainIfChild makes this process the extraction child when it was started
// by ExtractIsolated, and never returns in that case. Call it first thing
// in main() of every binary that uses ExtractIsolated or ExtractFile, and in
// TestMain of every test binary that does (before m.Run), e.g.
//
//	func TestMain(m *testing.M) { extract.MainIfChild(); os.Exit(m.Run()) }
//
// In any other process it returns at once.
func MainIfChild() {
	if os.Getenv(ChildEnv) != "1" {
		return
	}
	os.Exit(runChild(os.Getenv(ChildArgsEnv), os.Stdout))
}

func runChild(jobJSON string, stdout io.Writer) int {
	var job childJob
	if err := json.Unmarshal([]byte(jobJSON), &job); err != nil {
		fmt.Fprintln(os.Stderr, "extract child: bad job:", err)
		return 2
	}
	lim := job.Limits.withDefaults()
	runtime.GOMAXPROCS(1)
	debug.SetMemoryLimit(lim.MemoryBytes * 3 / 4)
	// The parsers allocate per glyph and per object: collect less often (the memory limit
	// above still bounds the child) rather than spend a third of its CPU in the collector.
	debug.SetGCPercent(400)
	if !raceEnabled {
		// Address space: what the runtime holds now plus MemoryBytes.
		limit := uint64(vmSize() + lim.MemoryBytes)
		_ = syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit})
	}
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	doc, err := extractPath(context.Background(), job.Path, job.Format, lim)
	if err := writeResult(stdout, doc, err); err != nil {
		fmt.Fprintln(os.Stderr, "extract child: write result:", err)
		return 2
	}
	return 0
}

// writeResult writes the child's output (see childMsg).
func writeResult(w io.Writer, doc *Document, err error) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err != nil {
		if err := enc.Encode(childMsg{Kind: errKind(err), Error: err.Error()}); err != nil {
			return err
		}
		return bw.Flush()
	}
	if err := enc.Encode(childMsg{Head: &Document{Format: doc.Format, Title: doc.Title}}); err != nil {
		return err
	}
	for i := range doc.Sections {
		if err := enc.Encode(childMsg{Section: &doc.Sections[i]}); err != nil {
			return err
		}
	}
	if err := enc.Encode(childMsg{End: true}); err != nil {
		return err
	}
	return bw.Flush()
}

// vmSize is this process's virtual memory size in bytes (/proc/self/status).
func vmSize() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

func extractPath(ctx context.Context, path string, f Format, lim Limits) (*Document, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("extract: open: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("extract: stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", ErrUnsupported)
	}
	return Extract(ctx, fh, fi.Size(), f, lim)
}

var kinds = []struct {
	kind string
	err  error
}{
	{"too_large", ErrTooLarge}, {"corrupt", ErrCorrupt}, {"unsupported", ErrUnsupported},
	{"empty_file", ErrEmpty}, {"no_text", ErrNoText}, {"timeout", ErrTimeout},
}

func errKind(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return "corrupt"
}

// kindErr rebuilds a child's error in the parent, keeping its message.
type kindErr struct {
	base error
	msg  string
}

func (e *kindErr) Error() string { return e.msg }
func (e *kindErr) Unwrap() error { return e.base }

func fromKind(kind, msg string) error {
	for _, k := range kinds {
		if k.kind == kind {
			if msg == "" {
				return k.err
			}
			return &kindErr{k.err, msg}
		}
	}
	return &kindErr{ErrCorrupt, fmt.Sprintf("%v: %s", ErrCorrupt, msg)}
}

// ExtractIsolated extracts the file at path as format f in a child process
// (this executable re-executed with ChildEnv set; see MainIfChild) that
// runs with GOMAXPROCS=1, a GC memory limit and an RLIMIT_AS of
// lim.MemoryBytes above its start size, in its own process group. The
// child is killed, with its group, when lim.Timeout passes or ctx ends.
// Outcomes: ErrTimeout when the timeout killed it; ErrTooLarge, ErrCorrupt,
// ErrUnsupported, ErrEmpty, ErrNoText as the child reported them;
// ErrCorrupt with the reason for a crash, a fatal runtime error or running
// out of memory; ctx.Err() when the caller cancelled.
func ExtractIsolated(ctx context.Context, path string, f Format, lim Limits) (*Document, error) {
	lim = lim.withDefaults()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	if fi.Size() == 0 {
		return nil, ErrEmpty
	}
	if fi.Size() > lim.MaxBytes {
		return nil, tooLarge(fi.Size(), lim.MaxBytes)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("extract: find own executable: %w", err)
	}
	job, _ := json.Marshal(childJob{Path: path, Format: f, Limits: lim})
	tctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, exe)
	cmd.Env = append(childEnviron(),
		ChildEnv+"=1",
		ChildArgsEnv+"="+string(job),
		"GOMAXPROCS=1",
		"GOTRACEBACK=single",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 2 * time.Second
	stderr := &tailWriter{max: 8 << 10}
	cmd.Stderr = stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("extract: start reader process: %w", err)
	}
	// JSON of at most MaxText of text, escaped: allow 6x plus slack.
	out := &capReader{r: pipe, max: lim.MaxText*6 + 1<<20}
	res, parseErr := readResult(out)
	if parseErr != nil {
		// Stop the child (it may be blocked writing) before waiting for it.
		_ = cmd.Cancel()
	}
	_, _ = io.Copy(io.Discard, pipe)
	runErr := cmd.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("extract: %w", ctx.Err())
	}
	if tctx.Err() != nil {
		return nil, &kindErr{ErrTimeout, fmt.Sprintf("the file took longer than %s to read: it may be corrupt or hostile",
			lim.Timeout.Round(time.Millisecond))}
	}
	if out.over {
		return nil, fmt.Errorf("%w: more than %s of text", ErrTooLarge, human(lim.MaxText))
	}
	if runErr != nil {
		return nil, childFailure(runErr, stderr.String(), lim, time.Since(start))
	}
	if res.kind != "" || res.msg != "" {
		return nil, fromKind(res.kind, res.msg)
	}
	if parseErr != nil {
		return nil, fmt.Errorf("%w: the reader process returned no result (%v)", ErrCorrupt, parseErr)
	}
	return res.doc, nil
}

type childResult struct {
	doc       *Document
	kind, msg string
}

// readResult decodes the child's output line by line (see childMsg).
func readResult(r io.Reader) (childResult, error) {
	var res childResult
	dec := json.NewDecoder(r)
	for {
		var m childMsg
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return res, err
		}
		switch {
		case m.Kind != "" || m.Error != "":
			res.kind, res.msg = m.Kind, m.Error
			return res, nil
		case m.Head != nil:
			if res.doc != nil {
				return res, errors.New("two document heads")
			}
			res.doc = &Document{Format: m.Head.Format, Title: m.Head.Title}
		case m.Section != nil:
			if res.doc == nil {
				return res, errors.New("a section before the document head")
			}
			res.doc.Sections = append(res.doc.Sections, *m.Section)
		case m.End:
			if res.doc == nil {
				return res, errors.New("no document")
			}
			return res, nil
		default:
			return res, errors.New("an empty message")
		}
	}
}

// childEnviron is the parent's environment without variables that would
// confuse the child's runtime limits.
func childEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case ChildEnv, ChildArgsEnv, "GOMAXPROCS", "GOMEMLIMIT", "GOTRACEBACK", "GODEBUG":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// childFailure explains a child that exited without a result.
func childFailure(runErr error, stderr string, lim Limits, took time.Duration) error {
	reason := lastFatalLine(stderr)
	low := strings.ToLower(stderr)
	switch {
	case strings.Contains(low, "out of memory") || strings.Contains(low, "cannot allocate memory"):
		return fmt.Errorf("%w: reading it needed more than the %s memory limit (%s)", ErrCorrupt, human(lim.MemoryBytes), reason)
	case strings.Contains(low, "goroutine stack exceeds") || strings.Contains(low, "stack overflow"):
		return fmt.Errorf("%w: the reader recursed too deeply (%s)", ErrCorrupt, reason)
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("%w: the reader process was killed by %v after %s (%s)", ErrCorrupt, ws.Signal(), took.Round(time.Millisecond), reason)
		}
		return fmt.Errorf("%w: the reader process crashed with exit code %d (%s)", ErrCorrupt, ee.ExitCode(), reason)
	}
	return fmt.Errorf("extract: start reader process: %w", runErr)
}

func lastFatalLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "runtime:") {
			return l
		}
	}
	if len(lines) > 0 && lines[len(lines)-1] != "" {
		return strings.TrimSpace(lines[len(lines)-1])
	}
	return "no output"
}

// capReader reads at most max bytes and notes overflow.
type capReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n >= c.max {
		c.over = true
		return 0, errors.New("output limit")
	}
	if int64(len(p)) > c.max-c.n {
		p = p[:c.max-c.n]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// tailWriter keeps the first max bytes (a Go fatal error prints its reason first).
type tailWriter struct {
	buf bytes.Buffer
	max int
}

func (w *tailWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (w *tailWriter) String() string { return w.buf.String() }

// ExtractFile detects the format of the file at path from its content and
// extracts it: the heavy formats (Format.Isolated) in a child process via
// ExtractIsolated, the light ones in this process.
func ExtractFile(ctx context.Context, path string, lim Limits) (*Document, error) {
	lim = lim.withDefaults()
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("extract: %w", err)
	}
	if fi.Size() > lim.MaxBytes {
		fh.Close()
		return nil, tooLarge(fi.Size(), lim.MaxBytes)
	}
	f, err := DetectReader(fh, fi.Size())
	if err != nil {
		fh.Close()
		return nil, err
	}
	if f.Isolated() {
		fh.Close()
		return ExtractIsolated(ctx, path, f, lim)
	}
	defer fh.Close()
	return Extract(ctx, fh, fi.Size(), f, lim)
}
