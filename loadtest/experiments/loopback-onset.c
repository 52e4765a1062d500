/*
 * The 10%-stopped onset without Sluice or Node: what the kernel alone charges a sender on loopback
 * while 100 of 1,000 receivers stop reading and their buffers fill. One sender thread pinned to CPU 0
 * (the gateway's core) writes 40 KiB frames round-robin to 1,000 loopback TCP connections at a fixed
 * offered rate; a reader thread pinned to CPU 1 reads all of them for the warm-up (so that the
 * receive buffers autotune, as in the bench's warm-up) and then only the first 900. A stopped
 * connection that takes less than a whole frame is written no more (as a gateway waits for the
 * socket to drain). Every 250 ms it prints the MiB written and the sender thread's CPU per MiB
 * (user + system from RUSAGE_THREAD: its syscalls and the loopback receive it runs in softirq), and at
 * the end the means before the stop, while the stopped connections fill, and once all are full.
 *
 *   gcc -O2 -pthread -o /tmp/loopback-onset loadtest/experiments/loopback-onset.c
 *   /tmp/loopback-onset [warm_ms=2000] [run_ms=7000] [offered MiB/s=1600] [source ring MiB=256]
 *
 * `source ring` makes each frame's bytes come from a different place in a ring of that size (0: one
 * static frame), so that the copy's source is as cold as a gateway's joined batch frames. With
 * EPOLL=1 the reader sleeps in epoll_wait as the load generator's threads do (libuv), instead of
 * polling every connection: on loopback the sender's softirq then wakes it, on the sender's core.
 * Bounded: warm-up ≤ 10 s, run ≤ 20 s, rate ≤ 4,000 MiB/s, ring ≤ 1,024 MiB. Only 127.0.0.1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FAST 900
#define STOPPED 100
#define N (FAST + STOPPED)
#define FRAME 40960

static int client[N], server[N], full[N];
static volatile int stopped = 0, done = 0;
static int use_epoll = 0;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double thread_cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_THREAD, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *reader(void *arg) {
  (void)arg;
  pin(1);
  static char buf[1 << 17];
  if (use_epoll) {
    int ep = epoll_create1(0), removed = 0;
    for (int i = 0; i < N; i++) {
      struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
      epoll_ctl(ep, EPOLL_CTL_ADD, client[i], &e);
    }
    struct epoll_event ready[256];
    while (!done) {
      if (stopped && !removed) {
        for (int i = FAST; i < N; i++) epoll_ctl(ep, EPOLL_CTL_DEL, client[i], 0);
        removed = 1;
      }
      int k = epoll_wait(ep, ready, 256, 10);
      for (int j = 0; j < k; j++) {
        int i = ready[j].data.u32;
        if (!(stopped && i >= FAST))
          while (read(client[i], buf, sizeof buf) > 0) {}
      }
    }
    return 0;
  }
  while (!done) {
    int n = stopped ? FAST : N;
    for (int i = 0; i < n; i++)
      while (read(client[i], buf, sizeof buf) > 0) {}
  }
  return 0;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

int main(int argc, char **argv) {
  double warm_ms = clamp(argc > 1 ? atof(argv[1]) : 2000, 0, 10000);
  double run_ms = clamp(argc > 2 ? atof(argv[2]) : 7000, 1000, 20000);
  double rate = clamp(argc > 3 ? atof(argv[3]) : 1600, 1, 4000) * 1048576;
  size_t ring_bytes = (size_t)clamp(argc > 4 ? atof(argv[4]) : 256, 0, 1024) << 20;
  use_epoll = getenv("EPOLL") != 0 && strcmp(getenv("EPOLL"), "1") == 0;
  pin(0);

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  if (bind(listener, (void *)&addr, sizeof addr) || listen(listener, 1024) || getsockname(listener, (void *)&addr, &len)) return perror("listen"), 1;
  for (int i = 0; i < N; i++) {
    client[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client[i], (void *)&addr, sizeof addr)) return perror("connect"), 1;
    server[i] = accept(listener, 0, 0);
    int one = 1;
    setsockopt(server[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(client[i], F_SETFL, O_NONBLOCK);
    fcntl(server[i], F_SETFL, O_NONBLOCK);
  }
  static char frame[FRAME];
  memset(frame, 'x', sizeof frame);
  char *ring = ring_bytes >= FRAME ? malloc(ring_bytes) : 0;
  if (ring) memset(ring, 'y', ring_bytes);
  size_t ring_at = 0;

  pthread_t t;
  pthread_create(&t, 0, reader, 0);
  double start = now(), tick = start, cpu0 = thread_cpu();
  long long written = 0, tick_written = 0, offered = 0;
  double sum[3] = {0}, cnt[3] = {0};
  while (now() < start + (warm_ms + run_ms) / 1000) {
    double elapsed = now() - start;
    if (!stopped && elapsed * 1000 >= warm_ms) {
      stopped = 1;
      printf("-- %d receivers stop reading\n", STOPPED);
    }
    if (offered > rate * elapsed) {
      usleep(200);
    } else {
      for (int i = 0; i < N; i++) {
        if (full[i]) continue;
        const char *src = frame;
        if (ring) {
          src = ring + ring_at;
          ring_at = ring_at + 2 * FRAME > ring_bytes ? 0 : ring_at + FRAME;
        }
        ssize_t w = write(server[i], src, FRAME);
        if (w > 0) written += w;
        if (w < FRAME && i >= FAST) full[i] = 1;
      }
      offered += (long long)FRAME * N;
    }
    if (now() - tick >= 0.25) {
      double cpu = thread_cpu(), mib = (written - tick_written) / 1048576.0;
      int nfull = 0;
      for (int i = 0; i < N; i++) nfull += full[i];
      double per = mib > 1 ? (cpu - cpu0) * 1e3 / mib : 0;
      printf("%5.2f s: %3d full, %6.0f MiB/s written, sender CPU %3.0f%%, %.3f ms per MiB\n", now() - start, nfull, mib / (now() - tick), 100 * (cpu - cpu0) / (now() - tick), per);
      int phase = !stopped ? 0 : nfull < STOPPED ? 1 : 2;
      if (mib > 1) sum[phase] += per, cnt[phase]++;
      tick = now();
      cpu0 = cpu;
      tick_written = written;
    }
  }
  done = 1;
  pthread_join(t, 0);
  printf("sender CPU per MiB, means of the 250 ms points: before the stop %.3f, while the stopped fill %.3f, all full %.3f\n", cnt[0] ? sum[0] / cnt[0] : 0, cnt[1] ? sum[1] / cnt[1] : 0, cnt[2] ? sum[2] / cnt[2] : 0);
  return 0;
}
