#include "collector/collector_app.h"
#include "common/absl_compat.h"

int main(int argc, char** argv) {
  meshtrace::UseReleaseMutexes();
  return meshtrace::collector::CollectorMain(argc, argv);
}
