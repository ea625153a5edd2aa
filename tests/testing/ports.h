#pragma once

namespace meshtrace::testing {

// A TCP port on 127.0.0.1 that was free a moment ago, for a child process that must be told
// its port up front (in-process servers bind port 0 instead). It is below the kernel's
// ephemeral range, so no outgoing connection takes it before the child listens.
int FreePort();

}  // namespace meshtrace::testing
