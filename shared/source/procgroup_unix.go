//go:build unix

package source

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts git in its own process group and makes cancellation kill the
// group: git runs git-remote-https and index-pack as children, which a kill of git
// alone would leave writing to the directory.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
