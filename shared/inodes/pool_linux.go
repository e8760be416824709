//go:build linux && !lambda.norpc

package inodes

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/shipgate/shipgate/shared/background"
)

// Pool holds files and directories made ahead in one directory. Its methods are safe
// for concurrent use; a nil Pool makes everything on the spot.
type Pool struct {
	dir      string
	umask    fs.FileMode
	fileMode fs.FileMode // the files' mode as made (0o666 through the umask)
	dirMode  fs.FileMode // the directories' mode as made (0o777 through the umask)

	// link and rename put a file or a directory of the pool in place; tests replace them.
	link   func(fd int, path string) error
	rename func(from, to string) error

	mu      sync.Mutex
	files   []int    // descriptors of unnamed files, open for writing
	dirs    []string // empty directories in dir
	wantF   int      // files asked for: from the pool or made on the spot
	wantD   int
	fromF   int // files handed out from the pool
	fromD   int
	makingF int // files and directories being made now, counted so two
	makingD int // rounds at once do not both make up the same shortfall
	// Links and renames in a row that failed for a reason of the pool's own (poolsFault):
	// after giveUpAfter, the pool hands out no more files (noLink) or directories (noMove).
	strikesF, strikesD int
	noLink, noMove     bool
	dirSeq             int
	closing            bool
	// stock, when set, is where p's files come from (FilesFrom); p holds none itself.
	stock *Pool
	// keep is how many files p tops itself up to after handing one out (KeepFilled).
	keep      int
	refilling bool
}

// KeepFilled has p make files, in the background (package background: once no stage
// holds a workspace, at a low priority), until it holds n,
// now and whenever it has handed one out: for a directory written now and then (an
// outbox, a state file) whose files are made ahead of each write.
func (p *Pool) KeepFilled(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.keep = n
	p.mu.Unlock()
	p.TopUp(n)
}

// topUp tops p up to what KeepFilled asked it to keep, if anything.
func (p *Pool) topUp() {
	p.mu.Lock()
	n := p.keep
	p.mu.Unlock()
	if n > 0 {
		p.TopUp(n)
	}
}

// TopUp makes files, in the background (package background: once no stage holds a
// workspace, at a low priority), until p holds n, unless a round of making is under way
// already.
func (p *Pool) TopUp(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n <= len(p.files) || p.refilling || p.closing || p.noLink {
		return
	}
	p.refilling = true
	background.Go(func() {
		// Until full: files handed out while a round was being made are made up for
		// by the next; a round that makes nothing (no O_TMPFILE, no room) ends it.
		for {
			p.mu.Lock()
			if len(p.files) >= n || p.closing || p.noLink {
				p.refilling = false
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
			if p.refill(n, 0) == 0 {
				break
			}
		}
		p.mu.Lock()
		p.refilling = false
		p.mu.Unlock()
	}, nil)
}

// FilesFrom makes p hand out files from q instead of files of its own: a pool of
// directories made with each workspace can then share one stock of files with the
// others, which outlives them (an unnamed file belongs to no directory, only to its file
// system, which q's and p's must share). Call it before p is used.
func (p *Pool) FilesFrom(q *Pool) {
	if p != nil && q != p {
		p.stock = q
	}
}

// src is the pool p's files come from.
func (p *Pool) src() *Pool {
	if p.stock != nil {
		return p.stock
	}
	return p
}

// Available reports whether this build keeps anything ahead (false in the Lambdas and
// off Linux, where every call is made on the spot).
func Available() bool { return true }

// Worthwhile reports whether a Pool in dir can save anything: Linux, and not a tmpfs
// or ramfs, where an inode costs about what a link does.
func Worthwhile(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type != unix.TMPFS_MAGIC && st.Type != unix.RAMFS_MAGIC
}

// Make returns a Pool of up to files files and dirs directories made in dir. When dirs
// is not 0, dir must be this user's alone (a directory of 0700 or inside one): the
// directories are named there until handed out. Files have no name, and may be made in
// any directory of the targets' file system. Making stops at the first failure; what was
// made is kept, and a Pool of nothing is still a valid Pool. Where the umask cannot be
// read (no /proc), the pool makes nothing: it could not give what it hands out the mode
// the os calls would.
func Make(dir string, files, dirs int) *Pool {
	p := &Pool{dir: dir, link: link, rename: renameNoReplace}
	mask, ok := umask()
	if !ok {
		p.noLink, p.noMove = true, true
		return p
	}
	p.umask = mask
	p.fileMode = 0o666 &^ mask
	p.dirMode = 0o777 &^ mask
	p.Refill(files, dirs)
	return p
}

// Refill makes files and directories until p holds files and dirs of them.
func (p *Pool) Refill(files, dirs int) {
	p.refill(files, dirs)
}

// refill is Refill, reporting how many files it made.
func (p *Pool) refill(files, dirs int) int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	needF, needD := max(files-len(p.files)-p.makingF, 0), max(dirs-len(p.dirs)-p.makingD, 0)
	if p.noLink || p.closing || p.stock != nil {
		needF = 0
	}
	if p.noMove || p.closing {
		needD = 0
	}
	seq := p.dirSeq
	p.dirSeq += needD
	p.makingF += needF
	p.makingD += needD
	p.mu.Unlock()
	var fds []int
	for range needF {
		fd, err := unix.Open(p.dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
		if err != nil {
			break // no O_TMPFILE here (or no room): files are made on the spot
		}
		fds = append(fds, fd)
	}
	var made []string
	for i := range needD {
		d := filepath.Join(p.dir, ".made-ahead-"+strconv.Itoa(seq+i))
		if os.Mkdir(d, 0o777) != nil {
			break
		}
		made = append(made, d)
	}
	p.mu.Lock()
	p.makingF -= needF
	p.makingD -= needD
	closing := p.closing
	if !closing {
		p.files = append(p.files, fds...)
		p.dirs = append(p.dirs, made...)
	}
	p.mu.Unlock()
	if closing {
		release(fds, made)
		return 0
	}
	return len(fds)
}

// Held is how many files and directories p holds now.
func (p *Pool) Held() (files, dirs int) {
	if p == nil {
		return 0, 0
	}
	if p.stock != nil {
		files, _ = p.stock.Held()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stock == nil {
		files = len(p.files)
	}
	return files, len(p.dirs)
}

// Wanted is how many files and directories were asked of p, whether it had them or
// they were made on the spot: what a pool for the same work should hold.
func (p *Pool) Wanted() (files, dirs int) {
	if p == nil {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wantF, p.wantD
}

// FromPool is how many of those p handed out of what it held.
func (p *Pool) FromPool() (files, dirs int) {
	if p == nil {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fromF, p.fromD
}

// Close releases what p still holds: the unnamed files vanish with their descriptors,
// the directories are removed. Later calls make everything on the spot.
func (p *Pool) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	fds, dirs := p.files, p.dirs
	p.files, p.dirs, p.closing = nil, nil, true
	p.mu.Unlock()
	return release(fds, dirs)
}

// Abandon lets go of what p holds without removing its directories, when the directory
// they are in may no longer be the pool's (a tmp cleaner removed it, and someone else
// made one of its name): what is in it is not the pool's to remove. It is for a pool
// nobody is using any more: a call under way may still remove the directory it took.
func (p *Pool) Abandon() {
	if p == nil {
		return
	}
	p.mu.Lock()
	fds := p.files
	p.files, p.dirs, p.closing = nil, nil, true
	p.mu.Unlock()
	release(fds, nil)
}

func release(fds []int, dirs []string) error {
	for _, fd := range fds {
		unix.Close(fd)
	}
	var errs []error
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Pool) count(dir, fromPool bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case dir:
		p.wantD++
		if fromPool {
			p.fromD++
		}
	default:
		p.wantF++
		if fromPool {
			p.fromF++
		}
	}
}

// create links a file of the pool at path, or makes it with spot when the pool has none
// or the link fails (then spot's error is the caller's, as the os call's would be).
func (p *Pool) create(path string, perm fs.FileMode, spot func() (*os.File, error)) (*os.File, error) {
	fd, s := p.take(perm)
	if fd < 0 {
		f, err := spot()
		return f, p.madeOnTheSpot(false, err)
	}
	// Mode and times while the file has no name: nobody can open it meanwhile.
	want := perm &^ s.umask
	if want != s.fileMode {
		if err := unix.Fchmod(fd, uint32(want)); err != nil {
			unix.Close(fd) // never named: it vanishes
			f, err := spot()
			return f, p.madeOnTheSpot(false, err)
		}
	}
	unix.Futimes(fd, nil) // a new file's times are when it is made, not made ahead
	if err := s.link(fd, path); err != nil {
		if want != s.fileMode && unix.Fchmod(fd, uint32(s.fileMode)) != nil {
			unix.Close(fd)
			fd = -1
		}
		s.linkFailed(fd, err)
		f, err := spot()
		return f, p.madeOnTheSpot(false, err)
	}
	s.linked(false)
	p.count(false, true)
	return os.NewFile(uintptr(fd), path), nil
}

// madeOnTheSpot counts a file (or, for dir, a directory) the os call made, and passes
// its error on.
func (p *Pool) madeOnTheSpot(dir bool, err error) error {
	if err == nil {
		p.count(dir, false)
	}
	return err
}

// publish writes data into a file of the pool and then links it at path, or does the
// same with spot.
func (p *Pool) publish(path string, data []byte, perm fs.FileMode, spot func() error) error {
	fd, s := p.take(perm)
	if fd < 0 {
		return p.madeOnTheSpot(false, spot())
	}
	f := os.NewFile(uintptr(fd), path)
	var err error
	if want := perm &^ s.umask; want != s.fileMode {
		err = f.Chmod(want)
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = unix.Futimes(fd, nil)
	}
	if err == nil {
		if err = s.link(fd, path); err == nil {
			f.Close()
			s.linked(false)
			p.count(false, true)
			return nil
		}
		s.linkFailed(-1, err)
	}
	// Written, so not to be handed out again: it vanishes as it has no name.
	f.Close()
	return p.madeOnTheSpot(false, spot())
}

// link names the unnamed file fd at path. AT_SYMLINK_FOLLOW on /proc/self/fd/N names
// the open file itself; linkat never follows a symlink at path and fails if anything is
// there, as O_EXCL does.
func link(fd int, path string) error {
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
}

// take takes a file from the pool (or its stock) for one of mode perm, and returns the
// pool it came from; -1 when there is none. A file that is no longer empty and unnamed
// (only this user could have made it so, through /proc) is dropped, not handed out.
func (p *Pool) take(perm fs.FileMode) (int, *Pool) {
	if p == nil || perm&^fs.ModePerm != 0 {
		return -1, nil
	}
	s := p.src()
	defer s.topUp()
	for {
		s.mu.Lock()
		if len(s.files) == 0 || s.noLink {
			s.mu.Unlock()
			return -1, s
		}
		fd := s.files[len(s.files)-1]
		s.files = s.files[:len(s.files)-1]
		s.mu.Unlock()
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Size == 0 && st.Nlink == 0 {
			return fd, s
		}
		unix.Close(fd)
	}
}

// linked notes a link (or, for dir, a rename) that worked.
func (p *Pool) linked(dir bool) {
	p.mu.Lock()
	if dir {
		p.strikesD = 0
	} else {
		p.strikesF = 0
	}
	p.mu.Unlock()
}

// giveUpAfter is how many links or renames in a row may fail for a reason of the pool's
// own before it stops handing out files or directories.
const giveUpAfter = 3

// poolsFault reports whether a link or rename failed because of the pool, not of its
// target: the file system or the kernel will not link or rename this way (EPERM:
// protected or unsupported hard links; EINVAL, ENOSYS, EOPNOTSUPP: no RENAME_NOREPLACE,
// no linking an O_TMPFILE), or /proc is not there to name the file by. Anything else
// (the name is taken, its directory is missing or not writable, another file system is
// mounted there) is the target's: the os call then runs into it too, or makes the entry
// where the pool could not, and the pool goes on.
func poolsFault(err error, fd int) bool {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return true
	case errors.Is(err, unix.ENOENT) && fd >= 0:
		return !exists("/proc/self/fd/" + strconv.Itoa(fd))
	}
	return false
}

// strike counts a failed link (or, for dir, rename) against the pool when the failure
// was the pool's own, and gives linking (renaming) up after giveUpAfter in a row. p.mu
// is held.
func (p *Pool) strike(dir bool, err error, fd int) {
	if !poolsFault(err, fd) {
		return
	}
	if dir {
		p.strikesD++
		p.noMove = p.noMove || p.strikesD >= giveUpAfter
	} else {
		p.strikesF++
		p.noLink = p.noLink || p.strikesF >= giveUpAfter
	}
}

// linkFailed settles a failed link: the file fd (-1: none to keep) goes back to the
// pool, unless linking has been given up.
func (p *Pool) linkFailed(fd int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.strike(false, err, fd)
	if p.noLink || p.closing {
		fds := p.files
		p.files = nil
		if fd >= 0 {
			fds = append(fds, fd)
		}
		release(fds, nil)
		return
	}
	if fd >= 0 {
		p.files = append(p.files, fd)
	}
}

// mkdir renames a directory of the pool to path, or makes it with spot.
func (p *Pool) mkdir(path string, perm fs.FileMode, spot func() error) error {
	d := ""
	// A directory its owner cannot write cannot be moved to another parent (rename
	// updates its ".."): one without u+w is made on the spot.
	if p != nil && perm&^fs.ModePerm == 0 && (perm&^p.umask)&0o200 != 0 {
		p.mu.Lock()
		if n := len(p.dirs); n > 0 && !p.noMove {
			d = p.dirs[n-1]
			p.dirs = p.dirs[:n-1]
		}
		p.mu.Unlock()
	}
	if d == "" {
		return p.madeOnTheSpot(true, spot())
	}
	// Mode and times while it is still in the pool's own directory.
	want := perm &^ p.umask
	if want != p.dirMode {
		if err := os.Chmod(d, want); err != nil {
			os.Remove(d)
			return p.madeOnTheSpot(true, spot())
		}
	}
	unix.UtimesNanoAt(unix.AT_FDCWD, d, nil, unix.AT_SYMLINK_NOFOLLOW)
	err := p.rename(d, path)
	if err == nil {
		p.linked(true)
		p.count(true, true)
		return nil
	}
	p.mu.Lock()
	p.strike(true, err, -1)
	switch {
	case !exists(d):
		// Gone (a tmp cleaner): nothing to keep.
	case p.noMove || p.closing:
		dirs := p.dirs
		p.dirs = nil
		release(nil, append(dirs, d))
	case want != p.dirMode && os.Chmod(d, p.dirMode) != nil:
		os.Remove(d)
	default:
		p.dirs = append(p.dirs, d)
	}
	p.mu.Unlock()
	return p.madeOnTheSpot(true, spot())
}

// renameNoReplace renames from to to, failing if anything is at to.
func renameNoReplace(from, to string) error {
	return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// umask reads this process's umask from /proc (Linux 4.7 on) without changing it, as
// syscall.Umask would have to for a moment.
func umask() (fs.FileMode, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return fs.FileMode(n) & fs.ModePerm, err == nil
		}
	}
	return 0, false
}
