#include "common/signals.h"

#include <pthread.h>
#include <signal.h>

#include <thread>

namespace meshtrace {

void HandleStopSignals(std::function<void(int)> on_stop) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread([stop, on_stop = std::move(on_stop)] {
    int sig = 0;
    sigwait(&stop, &sig);
    on_stop(sig);
  }).detach();
}

}  // namespace meshtrace
