#include "common/absl_compat.h"
#include "sidecar/sidecar_app.h"

#ifdef MESHTRACE_JEMALLOC
// jemalloc returns freed pages to the kernel within a second (default: 10 s). Under a backlog
// librdkafka frees fetch buffers continuously, and the default kept ~40 MiB of them resident
// (sidecar_bench: RSS 66-74 MiB -> 24-25 MiB at the same CPU per envelope). MALLOC_CONF in the
// environment still overrides this.
extern "C" {
const char* malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

int main(int argc, char** argv) {
  meshtrace::UseReleaseMutexes();
  return meshtrace::sidecar::SidecarMain(argc, argv);
}
