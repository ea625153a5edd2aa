#pragma once

namespace meshtrace::replayer {

// The `meshtrace` command line: parses argv, runs the subcommand, returns the exit code
// (0 success, 1 a difference or failed replay where the command says so, 2 usage or
// connection errors).
int RunCli(int argc, char** argv);

}  // namespace meshtrace::replayer
