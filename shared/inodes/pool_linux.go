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
	"syscall"

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

	mu      sync.Mutex
	files   []int    // descriptors of unnamed files, open for writing
	dirs    []string // empty directories in dir
	wantF   int      // files asked for: from the pool or made on the spot
	wantD   int
	noLink  bool // linking failed where creating worked: hand out no more files
	noMove  bool // likewise for renaming directories
	dirSeq  int
	closing bool
	// stock, when set, is where p's files come from (FilesFrom); p holds none itself.
	stock *Pool
	// keep is how many files p tops itself up to after handing one out (KeepFilled).
	keep      int
	refilling bool
}

// KeepFilled has p make files, in the background at a low priority, until it holds n,
// now and whenever it has handed one out: for a directory written now and then (an
// outbox, a state file) whose files are made ahead of each write.
func (p *Pool) KeepFilled(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.keep = n
	p.mu.Unlock()
	p.topUp()
}

// topUp starts making files up to keep, unless that is under way or not asked for.
func (p *Pool) topUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keep <= len(p.files) || p.refilling || p.closing || p.noLink {
		return
	}
	p.refilling = true
	background.Go(func() {
		// Until full: files handed out while a round was being made are made up for
		// by the next; a round that makes nothing (no O_TMPFILE, no room) ends it.
		for {
			p.mu.Lock()
			n := p.keep
			if len(p.files) >= n || p.closing || p.noLink {
				p.refilling = false
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
			if p.refill(n, 0) == 0 {
				p.mu.Lock()
				p.refilling = false
				p.mu.Unlock()
				return
			}
		}
	})
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

// Worthwhile reports whether a Pool in dir can save anything: Linux, and not a tmpfs
// or ramfs, where an inode costs about what a link does.
func Worthwhile(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type != unix.TMPFS_MAGIC && st.Type != unix.RAMFS_MAGIC
}

// Make returns a Pool of up to files files and dirs directories made in dir, which must
// be this user's alone (a directory of 0700 or inside one): the directories are named
// there until handed out. Making stops at the first failure; what was made is kept,
// and a Pool of nothing is still a valid Pool.
func Make(dir string, files, dirs int) *Pool {
	p := &Pool{dir: dir}
	mask, ok := umask()
	if !ok {
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
	needF, needD := files-len(p.files), dirs-len(p.dirs)
	if p.noLink || p.closing || p.stock != nil {
		needF = 0
	}
	if p.noMove || p.closing {
		needD = 0
	}
	seq := p.dirSeq
	p.dirSeq += max(needD, 0)
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
	for i := range max(needD, 0) {
		d := filepath.Join(p.dir, ".made-ahead-"+strconv.Itoa(seq+i))
		if os.Mkdir(d, 0o777) != nil {
			break
		}
		made = append(made, d)
	}
	p.mu.Lock()
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

func (p *Pool) madeOnTheSpot(dir bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if dir {
		p.wantD++
	} else {
		p.wantF++
	}
}

// create links a file of the pool at path. false: nothing was made, and the caller
// makes it on the spot (which also gives the error the os call gives).
func (p *Pool) create(path string, perm fs.FileMode) (*os.File, bool) {
	fd, ok := p.take(perm)
	if !ok {
		return nil, false
	}
	if err := link(fd, path); err != nil {
		p.putBack(fd, path, err)
		return nil, false
	}
	if s := p.src(); perm&^s.umask != s.fileMode {
		unix.Fchmod(fd, uint32(perm&^s.umask))
	}
	// A new file's times are when it was made; this one was made ahead.
	unix.Futimes(fd, nil)
	return os.NewFile(uintptr(fd), path), true
}

// publish writes data into a file of the pool and then links it at path; false as for
// create.
func (p *Pool) publish(path string, data []byte, perm fs.FileMode) bool {
	fd, ok := p.take(perm)
	if !ok {
		return false
	}
	f := os.NewFile(uintptr(fd), path)
	if s := p.src(); perm&^s.umask != s.fileMode {
		f.Chmod(perm &^ s.umask)
	}
	if _, err := f.Write(data); err != nil {
		f.Close() // the file was never named: it is freed
		p.gaveUp()
		return false
	}
	if len(data) == 0 {
		unix.Futimes(fd, nil)
	}
	if err := link(fd, path); err != nil {
		f.Close()
		p.gaveUp()
		return false
	}
	f.Close()
	return true
}

// link names the unnamed file fd at path. AT_SYMLINK_FOLLOW on /proc/self/fd/N names
// the open file itself; linkat never follows a symlink at path and fails if anything is
// there, as O_EXCL does.
func link(fd int, path string) error {
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
}

// gaveUp uncounts a file taken and not handed out (counted again when made on the spot).
func (p *Pool) gaveUp() {
	p.mu.Lock()
	p.wantF--
	p.mu.Unlock()
}

// take takes a file from the pool (or its stock) for one of mode perm.
func (p *Pool) take(perm fs.FileMode) (int, bool) {
	if p == nil || perm&^fs.ModePerm != 0 {
		return -1, false
	}
	s := p.src()
	s.mu.Lock()
	if len(s.files) == 0 {
		s.mu.Unlock()
		return -1, false
	}
	fd := s.files[len(s.files)-1]
	s.files = s.files[:len(s.files)-1]
	s.mu.Unlock()
	p.mu.Lock()
	p.wantF++
	p.mu.Unlock()
	s.topUp()
	return fd, true
}

// putBack keeps a file whose link failed because of the target (it exists, its parent
// does not: the caller's os call says so too), and gives up linking when the failure
// is the pool's: the file system or /proc does not allow it.
func (p *Pool) putBack(fd int, path string, err error) {
	targets := targetsFault(err) || (errors.Is(err, syscall.ENOENT) && !parentExists(path))
	p.gaveUp() // counted again when made on the spot
	p = p.src()
	p.mu.Lock()
	defer p.mu.Unlock()
	if targets && !p.closing {
		p.files = append(p.files, fd)
		return
	}
	if !targets {
		p.noLink = true
		fds := p.files
		p.files = nil
		defer release(append(fds, fd), nil)
		return
	}
	unix.Close(fd)
}

// mkdir renames a directory of the pool to path; false as for create.
func (p *Pool) mkdir(path string, perm fs.FileMode) bool {
	if p == nil || perm&^fs.ModePerm != 0 {
		return false
	}
	p.mu.Lock()
	if len(p.dirs) == 0 {
		p.mu.Unlock()
		return false
	}
	d := p.dirs[len(p.dirs)-1]
	p.dirs = p.dirs[:len(p.dirs)-1]
	p.wantD++
	p.mu.Unlock()
	err := unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if err != nil {
		p.dirBack(d, path, err)
		return false
	}
	if want := perm &^ p.umask; want != p.dirMode {
		os.Chmod(path, want)
	}
	unix.UtimesNanoAt(unix.AT_FDCWD, path, nil, unix.AT_SYMLINK_NOFOLLOW)
	return true
}

// dirBack is putBack for a directory.
func (p *Pool) dirBack(d, path string, err error) {
	targets := targetsFault(err) || (errors.Is(err, syscall.ENOENT) && !parentExists(path) && exists(d))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wantD--
	if targets && !p.closing {
		p.dirs = append(p.dirs, d)
		return
	}
	if !targets && !errors.Is(err, syscall.ENOENT) {
		// EXDEV, EINVAL (no RENAME_NOREPLACE), EPERM...: this file system will not.
		p.noMove = true
		dirs := p.dirs
		p.dirs = nil
		defer release(nil, append(dirs, d))
		return
	}
	os.Remove(d) // gone already (a tmp cleaner), or the pool is closing
}

// targetsFault reports whether a link or rename failed because of its target (what is or
// is not there, its directory's permissions or room), which the os call made on the spot
// runs into as well, rather than because of the pool.
func targetsFault(err error) bool {
	for _, e := range []syscall.Errno{syscall.EEXIST, syscall.ENOTEMPTY, syscall.ENOTDIR, syscall.EISDIR, syscall.ENAMETOOLONG,
		syscall.EACCES, syscall.ELOOP, syscall.ENOSPC, syscall.EDQUOT, syscall.EMLINK} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func parentExists(path string) bool { return exists(filepath.Dir(path)) }

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
