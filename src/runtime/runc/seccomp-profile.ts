/**
 * The default seccomp filter of every container (`linux.seccomp` in config.json): an allow-list,
 * everything else fails with EPERM.
 *
 * The list is Docker's default profile (moby/moby `profiles/seccomp/default.json`, the same one
 * containers/common ships as `seccomp.json`) resolved for a container without CAP_SYS_ADMIN,
 * CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_BPF or CAP_PERFMON, on a kernel newer than 4.8, with
 * CAP_SYS_CHROOT granted. One deliberate difference: io_uring_setup/enter/register are refused,
 * as containerd 2 and Docker 25+ do (io_uring has been a steady source of kernel exploits).
 * Refused as a consequence: bpf, userfaultfd, keyctl, add_key, request_key, perf_event_open,
 * init/finit/delete_module, kexec_*, mount, umount2, pivot_root, swapon/swapoff, reboot, unshare,
 * setns, clone with any CLONE_NEW* flag, and clone3 (ENOSYS, so that libc falls back to clone).
 */

/** One rule of the OCI `linux.seccomp.syscalls` list. */
export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: 'SCMP_CMP_EQ' | 'SCMP_CMP_NE' | 'SCMP_CMP_MASKED_EQ' }[];
}

/** The OCI `linux.seccomp` object. */
export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO';
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: SeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;
/** socket(2) family refused: AF_VSOCK, a channel to the hypervisor. */
const AF_VSOCK = 40;
/** personality(2) values allowed: PER_LINUX, UNAME26, PER_LINUX32, UNAME26|PER_LINUX32, query. */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** Syscalls every container may make whatever its arguments. */
export const ALLOWED_SYSCALLS: readonly string[] = [
  ...'accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 chroot'.split(' '),
  ...'clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64'.split(' '),
  ...'clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3'.split(' '),
  ...'epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old'.split(' '),
  ...'eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate'.split(' '),
  ...'fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr'.split(' '),
  ...'flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate'.split(' '),
  ...'ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32'.split(' '),
  ...'geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid'.split(' '),
  ...'getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list'.split(' '),
  ...'getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr'.split(' '),
  ...'inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents'.split(' '),
  ...'io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill'.split(' '),
  ...'landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat'.split(' '),
  ...'listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier'.split(' '),
  ...'memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect'.split(' '),
  ...'mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64'.split(' '),
  ...'mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep'.split(' '),
  ...'newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc'.split(' '),
  ...'pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease'.split(' '),
  ...'process_vm_readv process_vm_writev pselect6 pselect6_time64 ptrace pwrite64 pwritev pwritev2 read'.split(' '),
  ...'readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages'.split(' '),
  ...'removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending'.split(' '),
  ...'rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64'.split(' '),
  ...'rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max'.split(' '),
  ...'sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64'.split(' '),
  ...'sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl'.split(' '),
  ...'semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid'.split(' '),
  ...'setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority'.split(' '),
  ...'setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit'.split(' '),
  ...'set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl'.split(' '),
  ...'shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice'.split(' '),
  ...'stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time'.split(' '),
  ...'timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64'.split(' '),
  ...'timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate'.split(' '),
  ...'truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice'.split(' '),
  ...'wait4 waitid waitpid write writev'.split(' '),
];

/** Syscalls allowed only on some architectures (Docker's `includes.arches`). */
const ARCH_SYSCALLS: Record<'x64' | 'arm64', string[]> = {
  x64: ['arch_prctl', 'modify_ldt'],
  arm64: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
};

/** libseccomp's names for the native architecture and the compat ones a binary may use. */
const ARCHITECTURES: Record<'x64' | 'arm64', string[]> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

/** The profile for a host architecture (Node's `process.arch`); other architectures are refused. */
export function defaultSeccompProfile(arch: string = process.arch): SeccompProfile {
  if (arch !== 'x64' && arch !== 'arm64') throw new Error(`architecture "${arch}" has no seccomp profile`);
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: ARCHITECTURES[arch],
    syscalls: [
      { names: [...ALLOWED_SYSCALLS, ...ARCH_SYSCALLS[arch]], action: 'SCMP_ACT_ALLOW' },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] },
      ...PERSONALITIES.map((value): SeccompRule => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
      // fork and threads, never a new namespace: (flags & CLONE_NEW*) must be 0
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      // clone3 passes its flags in memory, which seccomp cannot read: ENOSYS makes libc use clone
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}
