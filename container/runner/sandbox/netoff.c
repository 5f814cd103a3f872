/*
 * netoff: runs a command with the network off, for sandbox.mode user (setpriv.ts).
 *
 *   netoff COMMAND [ARG...]
 *
 * The user sandbox runs on hosts without user namespaces (AWS Fargate), where nothing can give a
 * command a network namespace of its own, and the container may hold neither CAP_SYS_ADMIN nor
 * CAP_NET_ADMIN. What any process may still do is install a seccomp filter on itself once
 * no_new_privs is set. This program installs one, then execvp's its arguments: the filter holds
 * for that command and for everything it starts (it is inherited across fork, clone and execve,
 * and can never be removed). The runner starts it first, as root, and setpriv after it:
 *
 *   netoff setpriv --reuid=U ... --no-new-privs ... -- prlimit ... -- /bin/sh -c COMMAND
 *
 * so no process of the agent's uid ever runs without the filter. (Started after setpriv's `--`,
 * netoff would run as that uid, unfiltered and traceable, for the instants between its exec and
 * its prctl: an exec makes a process dumpable again, even one of a binary the uid may not read,
 * on Linux 6.18 at least. A process the agent left running, seizing every new process of its uid
 * with ptrace in a loop, caught it there unfiltered in about a third of 300 starts, and could have
 * made it skip the filter. As root it cannot be traced by that uid, and setpriv, once it has
 * changed uid, is not dumpable until its exec, by when the filter is on.)
 * Setting no_new_privs as root changes nothing for setpriv: it only stops an exec from gaining
 * privileges (set-user-ID bits, file capabilities), which setpriv never needs.
 *
 * The filter (classic BPF, no libseccomp), for each system call:
 *
 *   - a call made through another ABI than the one this binary was built for (the i386 `int 0x80`
 *     entry of an x86_64 kernel, AArch32 on arm64) kills the process: its system call numbers
 *     mean other calls, which the rules below would misread;
 *   - x86_64 only: a call of the x32 ABI (number with bit 0x40000000) fails with ENOSYS, as on a
 *     kernel built without it;
 *   - socket(domain, ...) and socketpair(domain, ...) are allowed for AF_UNIX only (the kernel
 *     reads the domain as an int: the lower 32 bits of the first argument); any other domain
 *     (AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_VSOCK, ...) fails with EACCES, which programs
 *     report as "Permission denied";
 *   - io_uring_setup, io_uring_enter and io_uring_register fail with ENOSYS (libuv and others then
 *     fall back to plain system calls): an io_uring IORING_OP_SOCKET creates a socket in the
 *     kernel without a socket() call the filter could see;
 *   - everything else is allowed.
 *
 * So a command can neither reach the internet nor a service on the host's loopback, nor list or
 * change the interfaces (netlink). What it keeps: unix sockets, with their usual file permissions
 * (a test suite's own servers on a path, node's and python's IPC), and sockets handed to it over
 * one by a process outside the filter (none is in the runner's image). Abstract unix sockets are
 * not files and cannot be filtered by seccomp (the address is behind a pointer): a service that
 * listens on one is reachable by any process of the container.
 *
 * If the filter cannot be installed, netoff prints why and exits 126 without running anything:
 * never the command with the network open. A command it cannot start exits 127 (not found) or
 * 126 (any other reason), as in a shell.
 *
 * Install it owned by root and writable by no one else (mode 0755).
 *
 * Build (gcc or clang, and the C library's static archive: Debian's gcc and libc6-dev; a static
 * binary runs whatever the image's libc; where libc.a is missing, the dynamic one works too):
 *
 *   cc -O2 -static -s -Wall -Wextra -o netoff netoff.c || cc -O2 -s -Wall -Wextra -o netoff netoff.c
 *   install -D -o root -g root -m 0755 netoff /usr/local/lib/numa-avatar/netoff
 *
 * The runner looks for it at /usr/local/lib/numa-avatar/netoff (sandbox/setpriv.ts NETOFF_PATH)
 * and says in the task log whether the network is off. The runner image builds it in a stage of
 * its own (container/runner/Dockerfile), so the compiler stays out of the image (and so do the apt
 * lists of that stage):
 *
 *   FROM node:20-bookworm-slim AS netoff
 *   RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev
 *   COPY container/runner/sandbox/netoff.c /src/netoff.c
 *   RUN cc -O2 -static -s -Wall -Wextra -Werror -o /src/netoff /src/netoff.c \
 *    && /src/netoff /bin/true
 *
 * and in the final stage:
 *
 *   COPY --from=netoff /src/netoff /usr/local/lib/numa-avatar/netoff
 *   RUN chown root:root /usr/local/lib/numa-avatar/netoff \
 *    && chmod 0755 /usr/local/lib/numa-avatar/netoff \
 *    && /usr/local/lib/numa-avatar/netoff /bin/true
 *
 * The kernel needs seccomp filters (Linux >= 3.5, CONFIG_SECCOMP_FILTER: every distribution and
 * Fargate). SECCOMP_RET_KILL_PROCESS needs 4.14; an older kernel reads it as SECCOMP_RET_KILL,
 * which kills the calling thread: the foreign call does not run either way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The ABI this binary is built for: the only one its filter understands. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define HAS_X32 1
#define X32_SYSCALL_BIT 0x40000000U
#elif defined(__aarch64__) && !defined(__ILP32__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#define HAS_X32 0
#else
#error "netoff supports x86_64 and aarch64 only"
#endif

/* The same numbers on both architectures (the unified table since Linux 5.1); old headers lack them. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif

/*
 * Where the lower 32 bits of the first argument are: seccomp_data.args[] are 64-bit values in the
 * machine's byte order.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define ARG0_LOW (offsetof(struct seccomp_data, args[0]) + 4)
#else
#define ARG0_LOW offsetof(struct seccomp_data, args[0])
#endif

/*
 * The program, one instruction per position below. Classic BPF only jumps forward, by an offset
 * counted from the next instruction: JUMP() computes it from the positions, and the static
 * assertions after the program check that every jump goes forward.
 */
enum {
  P_LOAD_ARCH,
  P_CHECK_ARCH,
  P_KILL,
  P_LOAD_NR,
#if HAS_X32
  P_CHECK_X32,
#endif
  P_IS_SOCKET,
  P_IS_SOCKETPAIR,
  P_IS_URING_SETUP,
  P_IS_URING_ENTER,
  P_IS_URING_REGISTER,
  P_LOAD_DOMAIN,
  P_CHECK_DOMAIN,
  P_EACCES,
  P_ENOSYS,
  P_ALLOW,
  P_LENGTH
};

#define JUMP(from, to) ((unsigned char)((to) - (from) - 1))
/* if (A == k) goto yes; else goto no; (from the instruction at position `at`) */
#define IF_EQ(at, k, yes, no) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), JUMP(at, yes), JUMP(at, no))
/* if (A >= k) goto yes; else goto no; (unsigned) */
#define IF_GE(at, k, yes, no) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), JUMP(at, yes), JUMP(at, no))
#define LOAD(offset) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (offset))
#define RETURN(action) BPF_STMT(BPF_RET | BPF_K, (action))

#if HAS_X32
#define P_AFTER_NR P_CHECK_X32
#else
#define P_AFTER_NR P_IS_SOCKET
#endif

static struct sock_filter program[P_LENGTH] = {
    /* The ABI of the call: anything but the native one is killed before its number is read. */
    [P_LOAD_ARCH] = LOAD(offsetof(struct seccomp_data, arch)),
    [P_CHECK_ARCH] = IF_EQ(P_CHECK_ARCH, NATIVE_ARCH, P_LOAD_NR, P_KILL),
    [P_KILL] = RETURN(SECCOMP_RET_KILL_PROCESS),

    /* The call's number. */
    [P_LOAD_NR] = LOAD(offsetof(struct seccomp_data, nr)),
#if HAS_X32
    /* x32 calls share the arch value of x86_64 but set this bit in the number. */
    [P_CHECK_X32] = IF_GE(P_CHECK_X32, X32_SYSCALL_BIT, P_ENOSYS, P_IS_SOCKET),
#endif
    [P_IS_SOCKET] = IF_EQ(P_IS_SOCKET, __NR_socket, P_LOAD_DOMAIN, P_IS_SOCKETPAIR),
    [P_IS_SOCKETPAIR] = IF_EQ(P_IS_SOCKETPAIR, __NR_socketpair, P_LOAD_DOMAIN, P_IS_URING_SETUP),
    [P_IS_URING_SETUP] = IF_EQ(P_IS_URING_SETUP, __NR_io_uring_setup, P_ENOSYS, P_IS_URING_ENTER),
    [P_IS_URING_ENTER] = IF_EQ(P_IS_URING_ENTER, __NR_io_uring_enter, P_ENOSYS, P_IS_URING_REGISTER),
    [P_IS_URING_REGISTER] = IF_EQ(P_IS_URING_REGISTER, __NR_io_uring_register, P_ENOSYS, P_ALLOW),

    /* socket() or socketpair(): the domain decides. */
    [P_LOAD_DOMAIN] = LOAD(ARG0_LOW),
    [P_CHECK_DOMAIN] = IF_EQ(P_CHECK_DOMAIN, AF_UNIX, P_ALLOW, P_EACCES),

    [P_EACCES] = RETURN(SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA)),
    [P_ENOSYS] = RETURN(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
    [P_ALLOW] = RETURN(SECCOMP_RET_ALLOW),
};

/* Every jump above goes forward (a backward one would wrap around and land elsewhere). */
_Static_assert(P_LOAD_NR > P_CHECK_ARCH && P_KILL > P_CHECK_ARCH, "arch jumps forward");
#if HAS_X32
_Static_assert(P_CHECK_X32 == P_LOAD_NR + 1 && P_ENOSYS > P_CHECK_X32 && P_IS_SOCKET > P_CHECK_X32,
               "x32 jumps forward");
#endif
_Static_assert(P_AFTER_NR == P_LOAD_NR + 1, "the number is checked right after it is loaded");
_Static_assert(P_LOAD_DOMAIN > P_IS_SOCKETPAIR && P_IS_SOCKETPAIR > P_IS_SOCKET, "socket jumps forward");
_Static_assert(P_ENOSYS > P_IS_URING_REGISTER && P_IS_URING_REGISTER > P_IS_URING_ENTER &&
                   P_IS_URING_ENTER > P_IS_URING_SETUP && P_IS_URING_SETUP > P_IS_SOCKETPAIR,
               "io_uring jumps forward");
_Static_assert(P_ALLOW > P_IS_URING_REGISTER && P_ALLOW > P_CHECK_DOMAIN && P_EACCES > P_CHECK_DOMAIN,
               "domain jumps forward");
_Static_assert(P_LENGTH < 256, "every jump fits in 8 bits");

static int install_filter(void) {
  struct sock_fprog prog = {
      .len = (unsigned short)P_LENGTH,
      .filter = program,
  };
  /* Lets a process without CAP_SYS_ADMIN install a filter (the runner on Fargate has none). */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

int main(int argc, char **argv) {
  int first = 1;
  if (first < argc && strcmp(argv[first], "--") == 0) first++;
  if (first >= argc) {
    fputs("usage: netoff COMMAND [ARG...]: runs COMMAND with no network but unix sockets\n", stderr);
    return 126;
  }
  if (install_filter() != 0) {
    fprintf(stderr, "netoff: cannot install the seccomp filter (%s): %s not run, its network would be open\n",
            strerror(errno), argv[first]);
    return 126;
  }
  execvp(argv[first], argv + first);
  int err = errno;
  fprintf(stderr, "netoff: cannot run %s: %s\n", argv[first], strerror(err));
  return err == ENOENT ? 127 : 126;
}
