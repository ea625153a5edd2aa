#include "collector/collector_app.h"

int main(int argc, char** argv) { return meshtrace::collector::CollectorMain(argc, argv); }
