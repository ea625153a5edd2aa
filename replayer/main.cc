#include "replayer/cli.h"

int main(int argc, char** argv) { return meshtrace::replayer::RunCli(argc, argv); }
